"""Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019) on training batches, through timm's ``Mixup``.

A recipe turns them on with ``mixup = { mixup_alpha = 0.2 }`` or ``{ cutmix_alpha = 1.0 }`` (both: timm
switches between them per batch with ``switch_prob``); an empty table is off. The batch is mixed with
its own reverse (row i with row B-1-i) with one lambda per batch, and the loss learns from the mixed
label distributions through the criterion's ``soft`` path, the one FER+ vote distributions use.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ferkit.errors import ConfigError

if TYPE_CHECKING:
    import torch

MIXUP_OPTIONS = {"mixup_alpha": 0.0, "cutmix_alpha": 0.0, "prob": 1.0, "switch_prob": 0.5}
# Only losses with a ``soft(logits, targets)`` path can learn from mixed labels. Metric losses (triplet,
# contrastive, center, weighted-cluster) compare embeddings of hard classes, where a 60/40 face has no class.
# ``distill`` is refused too: its cached teacher probabilities belong to the un-mixed images (only the
# online teacher would see the mixed ones), and its hard-label term would need the mixed targets as well.
MIXUP_LOSSES = ("ce",)


def mixup_enabled(options: dict[str, Any]) -> bool:
    """True when the recipe's ``mixup`` table mixes at least some batches."""
    merged = {**MIXUP_OPTIONS, **options}
    return (merged["mixup_alpha"] > 0 or merged["cutmix_alpha"] > 0) and merged["prob"] > 0


def check_mixup(options: Any, loss: str) -> None:
    """Validate a recipe's ``mixup`` table (at load time, before anything is built)."""
    if not isinstance(options, dict):
        raise ConfigError(f"mixup must be a table such as {{ mixup_alpha = 0.2 }} or {{ cutmix_alpha = 1.0 }} (empty: off), got {options!r}")
    unknown = set(options) - set(MIXUP_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown mixup option(s) {sorted(unknown)}; valid: {list(MIXUP_OPTIONS)}")
    for name, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"mixup.{name} must be a number >= 0, got {value!r}")
    for name in ("prob", "switch_prob"):
        if options.get(name, 0.0) > 1:
            raise ConfigError(f"mixup.{name} is a probability in [0, 1], got {options[name]!r}")
    if mixup_enabled(options) and loss not in MIXUP_LOSSES:
        why = ("its hard-label term needs one label per image and its cached teacher probabilities belong to the un-mixed images" if loss == "distill"
               else "it needs one hard label (or an embedding of one class) per image")
        raise ConfigError(f"mixup/cutmix trains on mixed label distributions, which loss {loss!r} cannot use: {why}. "
                          f"Use loss {' or '.join(repr(x) for x in MIXUP_LOSSES)}, or leave mixup empty")


class BatchMixer:
    """``mixer(x, y, rng)`` -> (mixed x, (B, C) target distributions): timm's ``Mixup`` in batch mode.

    timm draws lambda and the CutMix box from numpy's global generator; each call seeds it from the
    run's generator (and restores it after), so a run is reproducible and resumes with the same draws.
    Label smoothing is left to the criterion, which smooths probability targets the same way.
    """

    def __init__(self, options: dict[str, Any], num_classes: int) -> None:
        from timm.data import Mixup

        merged = {**MIXUP_OPTIONS, **options}
        self.num_classes = num_classes
        self.mixup = Mixup(mixup_alpha=merged["mixup_alpha"], cutmix_alpha=merged["cutmix_alpha"], prob=merged["prob"],
                           switch_prob=merged["switch_prob"], mode="batch", correct_lam=True, label_smoothing=0.0,
                           num_classes=num_classes)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, S, S), y (B,) labels. An odd last row stays unmixed (timm pairs rows, so B must be even)."""
        even = len(x) - len(x) % 2
        x = x.clone()  # timm mixes in place
        with _seeded_numpy_global(rng):
            mixed, targets = self.mixup(x[:even], y[:even])
        x[:even] = mixed
        if even < len(x):
            import torch
            from timm.data.mixup import one_hot

            targets = torch.cat([targets, one_hot(y[even:], self.num_classes)])
        return x, targets.float()


@contextlib.contextmanager
def _seeded_numpy_global(rng: np.random.Generator) -> Iterator[None]:
    saved = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        np.random.set_state(saved)
