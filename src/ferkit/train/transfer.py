"""Two-stage transfer learning (paper 004): start from other weights, freeze early stages, lower backbone lr.

``load_init_weights`` copies whatever fits from a ferkit checkpoint, a plain state_dict, a timm
``.pth`` or a ``.safetensors`` file (ImageNet, or face-identity weights such as VGGFace2
SE-ResNet-50 converted to timm key names; read by ``ferkit.artifacts.read_init_weights``) into a ``FerNet``; ``freeze_stages`` and
``set_frozen_bn_eval`` keep the stem and first stages fixed; ``param_groups`` gives the backbone a
smaller learning rate than the new embedding/head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ferkit.artifacts.init_weights import read_init_weights
from ferkit.errors import CheckpointError, ConfigError

STEM_MODULES = ("conv1", "bn1")
STAGE_MODULES = ("layer1", "layer2", "layer3", "layer4")


@dataclass
class InitWeightsReport:
    """What ``load_init_weights`` did: model keys loaded, source keys skipped (with why), and so on."""

    path: Path
    loaded: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)  # model key -> how the tensor was adapted
    skipped: dict[str, str] = field(default_factory=dict)  # source key -> reason
    missing: list[str] = field(default_factory=list)  # model keys left at their initial values
    class_names: tuple[str, ...] | None = None  # the label set of a ferkit checkpoint; None for plain weights

    def summary(self) -> str:
        return (
            f"{self.path.name}: loaded {len(self.loaded)} tensors ({len(self.adapted)} channel-adapted), "
            f"skipped {len(self.skipped)}, left {len(self.missing)} model tensors at init"
        )


def _candidate_keys(key: str, aliases: Mapping[str, str] | None = None) -> list[str]:
    """Model keys a source key may mean: as is, under ``backbone.``, or with ``backbone.`` removed; then each of those
    with a backbone's ``init_key_aliases`` applied (a backbone that keeps a ResNet's modules under other names)."""
    keys = [key, key.removeprefix("backbone.")] if key.startswith("backbone.") else [key, f"backbone.{key}"]
    for source, target in (aliases or {}).items():
        for name in list(keys):
            inner = name.removeprefix("backbone.")
            if inner.startswith(source):
                keys.append("backbone." + target + inner[len(source):])
    return keys


def _adapt_channels(source: torch.Tensor, target_shape: torch.Size) -> tuple[torch.Tensor, str] | None:
    """First-conv weight (O, C_src, k, k) -> (O, C_dst, k, k); None when the shapes differ otherwise.

    C_src -> 1: sum over input channels, so a gray image gives the response the RGB model gave to
    the same gray image replicated in all channels. 1 -> C_dst: split the kernel evenly.
    """
    if source.ndim != 4 or len(target_shape) != 4 or source.shape[0] != target_shape[0] or source.shape[2:] != target_shape[2:]:
        return None
    src_chans, dst_chans = source.shape[1], target_shape[1]
    if dst_chans == 1:
        return source.sum(dim=1, keepdim=True), f"summed {src_chans} input channels into 1"
    if src_chans == 1:
        return source.repeat(1, dst_chans, 1, 1) / dst_chans, f"spread 1 input channel over {dst_chans}"
    return None


def load_init_weights(model: nn.Module, path: str | Path, *, strict: bool = False) -> InitWeightsReport:
    """Initialise ``model`` from the tensors in ``path`` that fit it; returns what was loaded and skipped.

    Keys are matched as they are or under ``model.backbone`` (timm names); a first conv with 3
    input channels is adapted to a 1-channel model; tensors whose shapes differ (e.g. a classifier
    head for another label set) are skipped. ``strict=True`` raises unless every model tensor was
    filled and every source tensor used.
    """
    if str(path).startswith("run:"):  # a recipe's warm start names a run: ferkit.train.runs finds its file
        raise ConfigError(f"init weights {path!r} name a run; resolve it in a runs directory first (ferkit.train.runs.resolve_warm_start)")
    weights = read_init_weights(path)
    path, source = weights.path, weights.state
    target = model.state_dict()
    report = InitWeightsReport(path=path, class_names=weights.class_names)
    new_state: dict[str, torch.Tensor] = {}
    aliases = getattr(getattr(model, "backbone", model), "init_key_aliases", None)
    for key, tensor in source.items():
        model_key = next((k for k in _candidate_keys(key, aliases) if k in target), None)
        if model_key is None:
            report.skipped[key] = "no such tensor in the model"
            continue
        if model_key in new_state:
            report.skipped[key] = f"{model_key} already loaded from another key"
            continue
        expected = target[model_key].shape
        if tensor.shape != expected:
            adapted = _adapt_channels(tensor, expected)
            if adapted is None:
                report.skipped[key] = f"shape {tuple(tensor.shape)} != model's {tuple(expected)}"
                continue
            tensor, how = adapted
            report.adapted[model_key] = how
        new_state[model_key] = tensor.to(dtype=target[model_key].dtype)
        report.loaded.append(model_key)
    if not new_state:
        raise CheckpointError(
            f"nothing in {path} matches the model: file keys look like {list(source)[:3]}, model keys like {list(target)[:3]}; "
            f"check that the file holds weights of this architecture (timm key names)"
        )
    report.missing = [k for k in target if k not in new_state]
    if strict and (report.missing or report.skipped):
        raise CheckpointError(
            f"{path} does not fit the model exactly (strict=True): {len(report.missing)} model tensors missing "
            f"(e.g. {report.missing[:3]}), {len(report.skipped)} file tensors skipped (e.g. {list(report.skipped.items())[:3]}); "
            f"pass strict=False to load what fits"
        )
    model.load_state_dict({**target, **new_state})
    return report


def _backbone(model: nn.Module) -> nn.Module:
    backbone = getattr(model, "backbone", model)
    if not all(hasattr(backbone, name) for name in STEM_MODULES + STAGE_MODULES):
        raise ConfigError(f"freeze_stages needs a timm ResNet backbone (conv1, bn1, layer1..layer4); got {type(backbone).__name__}")
    return backbone


def freeze_stages(model: nn.Module, num_stages: int) -> list[str]:
    """Freeze the stem and the first ``num_stages`` (0-4) residual stages; returns the frozen module names.

    Parameters stop receiving gradients and their BatchNorms go to eval mode (running stats fixed);
    call ``set_frozen_bn_eval(model)`` after every ``model.train()``, which switches them back.
    """
    if not 0 <= num_stages <= len(STAGE_MODULES):
        raise ConfigError(f"num_stages must be between 0 and {len(STAGE_MODULES)} (stages of a ResNet), got {num_stages}")
    backbone = _backbone(model)
    names = list(STEM_MODULES + STAGE_MODULES[:num_stages])
    for name in names:
        for param in getattr(backbone, name).parameters():
            param.requires_grad_(False)
    set_frozen_bn_eval(model)
    return names


def set_frozen_bn_eval(model: nn.Module) -> None:
    """Put every BatchNorm whose affine parameters are frozen into eval mode, so its running stats stay fixed."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine and not module.weight.requires_grad:
            module.eval()


def param_groups(model: nn.Module, *, lr: float, backbone_lr_mult: float) -> list[dict]:
    """Optimizer groups: trainable backbone params at ``lr * backbone_lr_mult``, all other trainable params at ``lr``.

    Groups carry a "name" ("backbone" / "head"); empty groups are left out. Frozen params are skipped.
    """
    if lr <= 0 or backbone_lr_mult < 0:
        raise ConfigError(f"lr must be > 0 and backbone_lr_mult >= 0, got lr={lr}, backbone_lr_mult={backbone_lr_mult}")
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError(f"param_groups needs a model with a .backbone (a FerNet); got {type(model).__name__}")
    backbone_ids = {id(p) for p in backbone.parameters()}
    backbone_params, head_params = [], []
    for param in model.parameters():
        if param.requires_grad:
            (backbone_params if id(param) in backbone_ids else head_params).append(param)
    groups = [
        {"name": "backbone", "params": backbone_params, "lr": lr * backbone_lr_mult},
        {"name": "head", "params": head_params, "lr": lr},
    ]
    return [g for g in groups if g["params"]]
