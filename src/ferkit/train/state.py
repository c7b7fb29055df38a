"""Everything a run needs to continue where it stopped, saved and restored by one pair of methods.

``TrainState.state_dict()`` is the resumable part of ``last.pt`` and ``load_state_dict`` reads back
exactly those keys, so resume mirrors the save by construction, except ``steps_per_epoch``, which a
resume checks (``resume.check_steps_per_epoch``) rather than restores. The keys are those of the
checkpoints written before this module existed (``ferkit-checkpoint-v1``): runs started then resume.
No gradient scaler is kept: mixed precision is bf16 autocast, which needs none.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ferkit.data.dataset import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import FerkitWarning
from ferkit.train.config import Recipe
from ferkit.train.optim import Scheduler

MODULES = ("model", "criterion", "optimizer", "scheduler")
PROGRESS = ("epoch", "best_val", "best_epoch", "history")
RESUMABLE_KEYS = ("model", "criterion", "optimizer", "numpy_rng", "torch_gen", *PROGRESS)  # what load_state_dict cannot do without


@dataclass
class TrainState:
    """Model, criterion (e.g. class centres), optimizer, schedule, random streams and progress of a run.

    ``rng`` draws batches and occluders on the host, ``gen`` the on-device augmentation; ``epoch`` is
    the number of finished epochs and ``history`` their log rows; ``steps_per_epoch`` the optimizer steps
    of each epoch, which a per-batch schedule was built for.
    """

    model: nn.Module
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None
    rng: np.random.Generator
    gen: torch.Generator
    epoch: int = 0
    best_val: float | None = None
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    steps_per_epoch: int | None = None

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: None if getattr(self, name) is None else getattr(self, name).state_dict() for name in MODULES}
        cuda = self.gen.device.type == "cuda"
        state.update({
            "numpy_rng": self.rng.bit_generator.state, "torch_gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if cuda else None,
        })
        state.update({name: getattr(self, name) for name in PROGRESS})
        state["steps_per_epoch"] = self.steps_per_epoch
        return state

    def load_state_dict(self, state: dict[str, Any], *, restore_cuda_rng: bool = True, log: Callable[[str], None] | None = None) -> None:
        """Restore a ``state_dict``. ``restore_cuda_rng`` False for distributed runs: ranks reseed every
        epoch, and the saving run may have had another number of GPUs. ``log`` (default: a warning) hears
        of a random stream that could not be restored (saved on another kind of device)."""
        for name in MODULES:
            target, saved = getattr(self, name), state.get(name)
            if target is not None and (saved or name != "scheduler"):  # a run without a schedule saved None
                target.load_state_dict(saved)
        self.rng.bit_generator.state = state["numpy_rng"]
        restore_generator(self.gen, state["torch_gen"], log or _warn)
        if "torch_rng" in state:  # dropout and other global draws continue where they stopped
            torch.set_rng_state(state["torch_rng"].cpu())
            if self.gen.device.type == "cuda" and state.get("cuda_rng") is not None and restore_cuda_rng:
                # A machine with fewer GPUs than the saving one restores the streams of those it has.
                torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda_rng"]][: torch.cuda.device_count()])
        for name in PROGRESS:
            setattr(self, name, state[name])


def restore_generator(gen: torch.Generator, saved: torch.Tensor, log: Callable[[str], None]) -> None:
    """Set ``gen`` to ``saved`` when it is the state of the same kind of generator. A CPU generator's state
    (Mersenne Twister, 5056 bytes) and a CUDA one's (Philox seed and offset, 16 bytes) do not fit each
    other: a run saved on CPU and resumed on CUDA, or back, continues from ``gen`` as seeded, not bit-identical."""
    saved = saved.cpu()  # Generator.set_state takes a CPU ByteTensor, whatever the device
    current = gen.get_state()
    if saved.numel() != current.numel():
        log(f"warning: the saved augmentation random stream ({saved.numel()} bytes, from another kind of device) does not fit this "
            f"run's {gen.device.type} generator ({current.numel()} bytes): the resumed run draws from a fresh stream, so it is not "
            "bit-identical to an uninterrupted one")
        return
    gen.set_state(saved)


def _warn(message: str) -> None:
    warnings.warn(message, FerkitWarning, stacklevel=3)


def run_meta(recipe: Recipe, split: ExperimentSplit) -> dict[str, Any]:
    """What every checkpoint of a run carries to rebuild its model and check it fits the data."""
    return {
        "model_name": recipe.model, "model_kwargs": recipe.model_kwargs, "in_chans": recipe.in_chans,
        "image_size": recipe.image_size, "class_names": list(split.train.class_names), "recipe": recipe.to_dict(),
        "split": split.name, "train_size": len(split.train), "data_fingerprint": data_fingerprint(split.train),
    }


def data_fingerprint(data: FaceDataset) -> dict[str, Any]:
    """What tells one training set from another of the same size, so a resume on other data is refused.

    ``samples``: sha256 of the sample ids with their labels, in order (which images, labelled how, in which
    order the batches index them); ``images``: sha256 of the pixels, since a re-exported copy can keep every
    file name and hold other images. Ids are relative names (``happy/Training_1``), so a copy of the data
    elsewhere has the same fingerprint. ``image_means``: the mean pixel of each image's four quadrants, rounded
    (four bytes per image, hex), so that a resume can tell a new JPEG decoder (an OpenCV upgrade moves pixels by a
    level and changes ``images``) from other images. About 0.2 s and 230 kB for FER2013's 28,709 training images.
    """
    samples = hashlib.sha256()
    for sample_id, label in zip(data.ids, data.labels.tolist()):
        samples.update(f"{sample_id}\t{label}\n".encode())
    pixels = hashlib.sha256(str(tuple(data.images.shape)).encode())
    pixels.update(np.ascontiguousarray(data.images).data)
    return {"class_names": list(data.class_names), "samples": samples.hexdigest(), "images": pixels.hexdigest(),
            "image_means": quadrant_means(data.images).tobytes().hex()}


def quadrant_means(images: np.ndarray) -> np.ndarray:
    """(N, 4) uint8: the mean of each image's top-left, top-right, bottom-left and bottom-right quarter (0-255 scale;
    float images in [0, 1] are scaled to it). Channels, if any, are averaged in."""
    array = np.asarray(images)
    scale = 255.0 if array.dtype.kind == "f" and array.size and array.max() <= 1.0 else 1.0
    height, width = array.shape[1] // 2, array.shape[2] // 2
    quarters = [array[:, :height, :width], array[:, :height, width:], array[:, height:, :width], array[:, height:, width:]]
    means = np.stack([q.reshape(len(array), -1).mean(axis=1, dtype=np.float64) if q.size else np.zeros(len(array)) for q in quarters], axis=1)
    return np.clip(np.rint(means * scale), 0, 255).astype(np.uint8)


def checkpoint_payload(kind: str, meta: dict[str, Any], state: TrainState, *, selected_on: str = "val") -> dict[str, Any]:
    """The dict saved as ``best.pt`` (kind "best": the selected weights) or ``last.pt`` (kind "last": resumable)."""
    if kind == "best":
        return {**meta, "model": state.model.state_dict(), "epoch": state.epoch, "val_metric": state.best_val, "selected_on": selected_on}
    if kind == "last":
        return {**meta, **state.state_dict()}
    raise ValueError(f"checkpoint kind must be 'best' or 'last', got {kind!r}")
