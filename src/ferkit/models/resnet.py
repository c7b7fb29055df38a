"""ResNet backbones from timm: the standard ResNet-18/50 and papers 000/001's modified ResNet-18.

Modified ResNet-18 (paper 000, Table 1): one basic block per stage instead of two. At 48x48 input
the 7x7 stride-2 stem gives 24x24, the max-pool + stage 1 give 12x12, then 6, 3 and 2, exactly
the table's output sizes. Backbones return pooled features (``num_classes=0``); heads live in
``heads.py``.
"""

from __future__ import annotations

import torch.nn as nn

from ferkit.errors import WeightsUnavailableError


def _timm_resnet(layers: list[int], block: str, in_chans: int, pretrained: bool, timm_name: str, **kwargs) -> nn.Module:
    import timm
    from timm.models.resnet import BasicBlock, Bottleneck, ResNet

    if pretrained:
        return create_pretrained_timm(timm_name, in_chans=in_chans, **kwargs)
    block_cls = BasicBlock if block == "basic" else Bottleneck
    del timm
    return ResNet(block=block_cls, layers=layers, in_chans=in_chans, num_classes=0, **kwargs)


def create_pretrained_timm(timm_name: str, *, in_chans: int, **kwargs) -> nn.Module:
    """timm ``pretrained=True`` from a file already on this machine (the Hugging Face or torch hub cache); nothing is
    fetched. The file is found first and handed to timm as ``pretrained_cfg_overlay={"file": ...}``, since timm and
    huggingface_hub read ``HF_HUB_OFFLINE`` when they are imported and would otherwise try the network."""
    import timm

    local = cached_timm_weights(timm_name)
    if local is None:
        raise WeightsUnavailableError(
            f"pretrained weights for {timm_name!r} are not on this machine. ferkit never downloads at run time: place them in "
            f"the Hugging Face cache (HF_HOME) or torch hub cache beforehand, or pass a local file with --init-weights PATH")
    try:
        return timm.create_model(timm_name, pretrained=True, pretrained_cfg_overlay={"file": local}, in_chans=in_chans, num_classes=0, **kwargs)
    except Exception as exc:  # a partial or foreign file in the cache
        raise WeightsUnavailableError(f"cannot load the pretrained weights for {timm_name!r} from {local} ({type(exc).__name__}: {exc})") from None


def cached_timm_weights(timm_name: str) -> str | None:
    """The local file of a timm model's pretrained weights, or None; looks only on disk (never the network)."""
    import os

    import torch.hub
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        for filename in filter(None, (getattr(cfg, "hf_hub_filename", None), "model.safetensors", "pytorch_model.bin")):
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    if cfg.url:
        found = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(cfg.url))
        if os.path.isfile(found):
            return found
    return None


def resnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([2, 2, 2, 2], "basic", in_chans, pretrained, "resnet18.a1_in1k", **kwargs)


def modified_resnet18(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    if pretrained:
        raise WeightsUnavailableError("the modified ResNet-18 has no public pretrained weights; train it or pass --init-weights")
    return _timm_resnet([1, 1, 1, 1], "basic", in_chans, False, "", **kwargs)


def resnet34(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([3, 4, 6, 3], "basic", in_chans, pretrained, "resnet34.a1_in1k", **kwargs)


def resnet50(in_chans: int = 1, pretrained: bool = False, **kwargs) -> nn.Module:
    return _timm_resnet([3, 4, 6, 3], "bottleneck", in_chans, pretrained, "resnet50.a1_in1k", **kwargs)


def feature_dim(backbone: nn.Module) -> int:
    return int(getattr(backbone, "num_features"))
