"""Where a distillation teacher's logits come from, per training batch.

Two signals, compared in docs/training_on_cpu.md:
- ``cached``: the teacher scores every un-augmented training image and its mirror once, before
  training (log of the mean probability); each batch then looks its rows up by index. One teacher
  pass over the data in all, but the target ignores the batch's augmentation (crops, occluders).
- ``online``: the teacher is run on each augmented batch, so the target matches what the student
  sees, at the cost of a teacher forward pass per step.
The cache is written next to the run (``teacher_logits.pt``) and reused on resume when it was made
by the same teacher file for the same training set.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ferkit.artifacts.torchfile import read_torch_file, write_torch_file
from ferkit.errors import ConfigError


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass
class TeacherSignal:
    """``logits(indices, x)``: teacher logits (B, C) for the batch of training-set rows ``indices`` shown as ``x``."""

    mode: str
    teacher_path: Path
    cached: torch.Tensor | None = None  # (N, C) for mode "cached"
    model: nn.Module | None = None  # for mode "online"
    build_seconds: float = 0.0  # loading the teacher and, when cached, scoring the training set: part of the run's cost
    forward_seconds: float = 0.0  # online mode: time spent in the teacher's per-batch passes, so far in this process

    @torch.no_grad()
    def logits(self, indices: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.cached is not None:
            return self.cached[indices]
        started = time.perf_counter()
        logits = self.model(x).float()
        self.forward_seconds += time.perf_counter() - started
        return logits


def _load_teacher(path: Path, class_names: tuple[str, ...], in_chans: int, image_size: int, device: torch.device) -> nn.Module:
    from ferkit.artifacts import load_model

    loaded = load_model(path, device=device)
    if loaded.class_names != tuple(class_names):
        raise ConfigError(f"teacher {path} predicts {list(loaded.class_names)}, the training set has {list(class_names)}; "
                          "distillation needs the same classes in the same order")
    if loaded.in_chans != in_chans or loaded.image_size != image_size:
        raise ConfigError(f"teacher {path} takes {loaded.in_chans}x{loaded.image_size}px input, the recipe feeds "
                          f"{in_chans}x{image_size}px; distil from a teacher with the student's input format")
    return loaded.model.eval()


def build_teacher_signal(teacher: str | None, mode: str, train_images: np.ndarray, class_names: tuple[str, ...], *, in_chans: int,
                         image_size: int, device: torch.device, cache_dir: Path, log=print) -> TeacherSignal:
    """Load the teacher named in the recipe and prepare its per-batch signal (``mode``: cached | online)."""
    from ferkit.evaluate.predict import predict_probabilities

    started = time.perf_counter()
    if not teacher:
        raise ConfigError("loss 'distill' needs loss_kwargs.teacher: the path of a ferkit checkpoint or ensemble checkpoint")
    path = Path(teacher).expanduser()
    if not path.is_file():
        raise ConfigError(f"distillation teacher not found: {path} (loss_kwargs.teacher)")
    model = _load_teacher(path, class_names, in_chans, image_size, device)
    if mode == "online":
        return TeacherSignal(mode, path, model=model, build_seconds=time.perf_counter() - started)
    cache_path = cache_dir / "teacher_logits.pt"
    key = {"teacher_sha256": file_digest(path), "train_size": len(train_images)}
    if cache_path.is_file():
        saved = read_torch_file(cache_path, "teacher logits cache")
        if saved.get("key") == key:
            log(f"teacher logits read from {cache_path}")
            return TeacherSignal(mode, path, cached=saved["logits"].to(device), build_seconds=time.perf_counter() - started)
    log(f"teacher {path}: scoring {len(train_images)} training images and their mirrors once")
    probs = predict_probabilities(model, train_images, in_chans=in_chans, image_size=image_size, tta="flip", device=device)
    logits = torch.from_numpy(probs).clamp_min(1e-8).log().to(device)
    write_torch_file(cache_path, {"key": key, "logits": logits.cpu()})
    return TeacherSignal(mode, path, cached=logits, build_seconds=time.perf_counter() - started)
