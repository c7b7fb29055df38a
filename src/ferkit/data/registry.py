"""Datasets built by name: ``fer2013:/path``, ``ckplus48:/path``, ``imagefolder:/path``.

Each family registers, in one declaration, everything ferkit needs to know about it: the function
that turns a root path and a protocol into experiment splits (train, validation, test), its
protocols, the layout description ``ferkit datasets`` prints, a counter for ``ferkit datasets
inspect`` and a layout detector, so a bare path is recognised by walking the registry. Validation is
always separate from test: checkpoints and hyper-parameters are chosen on it, and the test split is
scored once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ferkit.data.ckplus import load_ckplus48
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import require_dir
from ferkit.data.fer2013 import load_fer2013
from ferkit.data.imagefolder import SPLIT_NAMES, load_image_folder, split_folders
from ferkit.data.inspect import ProblemLog, ckplus_counts, fer2013_counts, imagefolder_counts
from ferkit.data.splits import grouped_holdout, random_count_split, subject_kfold
from ferkit.errors import ConfigError, DatasetError
from ferkit.labels import LABEL_ALIASES
from ferkit.registry import Registry


@dataclass(frozen=True)
class ExperimentSplit:
    """One train/validation/test triple; ``name`` says which fold or protocol it is. ``test`` is None
    only for data shipped without its test split (a FER2013 pack for a GPU machine)."""

    name: str
    train: FaceDataset
    val: FaceDataset | None
    test: FaceDataset | None
    leaks_subjects: bool = False


SplitBuilder = Callable[[Path, str, int], list[ExperimentSplit]]
TrainLoader = Callable[[Path, str, int], FaceDataset]
SplitCounter = Callable[[Path, ProblemLog], dict[str, dict[str, int]]]


@dataclass(frozen=True)
class DatasetFamily:
    """One dataset layout, as declared by ``register_dataset``.

    ``detect(path)`` says whether a bare path has this layout. Families are tried in increasing
    ``detect_rank``, then by name: specific layouts (a manifest, a folder name) have rank 0, loose
    ones that would also match other families' files rank higher (any CSV is FER2013's, rank 1; any
    folder is an image folder, rank 2). ``train_only(path, protocol, seed)``, where a family has one,
    reads the training split without decoding the others (``load_split(spec, "train")``: int8 calibration).
    """

    name: str
    splits: SplitBuilder
    protocols: tuple[str, ...]  # the first is the default
    layout: str
    spec: str  # an example ``family:path``
    notes: str
    counter: SplitCounter
    detect: Callable[[Path], bool]
    detect_rank: int = 0
    train_only: TrainLoader | None = None

    @property
    def default_protocol(self) -> str:
        return self.protocols[0]


DATASETS: Registry[DatasetFamily] = Registry("dataset family", plural="dataset families")


def register_dataset(
    name: str,
    protocols: tuple[str, ...],
    *,
    layout: str,
    spec: str,
    notes: str,
    counter: SplitCounter,
    detect: Callable[[Path], bool],
    detect_rank: int = 0,
    train_only: TrainLoader | None = None,
) -> Callable[[SplitBuilder], SplitBuilder]:
    """Decorate a family's split builder; the keywords are its ``DatasetFamily`` fields."""
    if not protocols:
        raise ConfigError(f"dataset family {name!r} must declare at least one protocol")

    def wrap(fn: SplitBuilder) -> SplitBuilder:
        DATASETS.register(name, DatasetFamily(name, fn, tuple(protocols), layout, spec, notes, counter, detect, detect_rank, train_only))
        return fn

    return wrap


def detect_family(path: Path) -> str:
    """Recognise a dataset layout from its files: the first registered family whose detector accepts it.

    A folder that only the catch-all family (any folder is an image folder) accepts, but whose sub-folders
    are datasets (``data/`` holding ``fer2013/`` and ``ckplus48/``), is refused naming them: read as an image
    folder it would fail on "unknown expression class 'ckplus48'", which hides the real mistake.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset path not found: {path}")
    families = sorted((family for _, family in DATASETS.items()), key=lambda family: (family.detect_rank, family.name))
    for family in families:
        if family.detect(path):
            if family.detect_rank == families[-1].detect_rank and path.is_dir():
                _refuse_a_folder_of_datasets(path, [f for f in families if f.detect_rank < family.detect_rank])
            return family.name
    raise DatasetError(f"{path}: no known dataset layout; name the family (family:path), one of {', '.join(DATASETS.names())}")


def datasets_in(folder: Path, families: list[DatasetFamily]) -> dict[str, str]:
    """{sub-folder name: family} for the sub-folders of ``folder`` that one of ``families`` recognises.

    Sub-folders named like an expression class (``happy``) or a split (``train``) are parts of one dataset
    and are not looked into: an image folder of CK+ crops split into train/ and test/ stays an image folder,
    and a real image folder costs nothing here.
    """
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name.strip().lower() in LABEL_ALIASES or sub.name.lower() in SPLIT_NAMES:
            continue
        family = next((f.name for f in families if f.detect(sub)), None)
        if family is not None:
            found[sub.name] = family
    return found


def _refuse_a_folder_of_datasets(folder: Path, families: list[DatasetFamily]) -> None:
    found = datasets_in(folder, families)
    if found:
        first = next(iter(found))
        held = ", ".join(f"{name}/: {family}" for name, family in found.items())
        raise DatasetError(f"{folder} holds datasets ({held}), not images of expression classes; "
                           f"point --data at one of them, e.g. --data {folder / first}")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``family:path`` -> (family, path). A bare path is recognised from its layout."""
    if ":" in spec and spec.split(":", 1)[0] in DATASETS:
        family, path = spec.split(":", 1)
        return family, Path(path).expanduser()
    path = Path(spec).expanduser()
    if ":" in spec and not path.exists():
        DATASETS.get(spec.split(":", 1)[0])  # not a registered family (checked above): raises, listing the known ones
    return detect_family(path), path


def _family_protocol(spec: str, protocol: str | None) -> tuple[DatasetFamily, Path, str]:
    """The family, path and protocol (default: the family's) of ``spec``; an undefined protocol is refused."""
    name, path = parse_spec(spec)
    family = DATASETS.get(name)
    protocol = protocol or family.default_protocol
    if protocol not in family.protocols:
        raise ConfigError(f"protocol {protocol!r} is not defined for {name}; choose from {', '.join(family.protocols)}")
    return family, path, protocol


def experiment_splits(spec: str, protocol: str | None = None, seed: int = 0) -> list[ExperimentSplit]:
    """Build the (train, val, test) splits of a dataset under a named protocol."""
    family, path, protocol = _family_protocol(spec, protocol)
    return family.splits(path, protocol, seed)


def experiment_split(spec: str, *, protocol: str | None = None, seed: int = 0, fold: int = 0) -> ExperimentSplit:
    """Fold ``fold``'s (train, val, test) of a dataset: evaluation compares its training part with a model's record."""
    splits = experiment_splits(spec, protocol, seed)
    if not 0 <= fold < len(splits):
        raise ConfigError(f"fold must be in 0..{len(splits) - 1}, got {fold}")
    return splits[fold]


def split_part(split: ExperimentSplit, part: str) -> FaceDataset:
    """``split.train``, ``.val`` or ``.test``; a DatasetError for a part the data does not have (FER2013 pack: no test)."""
    chosen = getattr(split, part)
    if chosen is None:
        raise DatasetError(f"{split.name} has no {part} split")
    return chosen


def load_split(spec: str, split: str, *, protocol: str | None = None, seed: int = 0, fold: int = 0) -> FaceDataset:
    """One split (``train``, ``val``, ``test``, or ``all`` images) of fold ``fold`` of a dataset.

    The training split of a family with a ``train_only`` loader (official splits) is read alone."""
    if split not in ("train", "val", "test", "all"):
        if parse_spec(spec)[0] == "fer2013":
            return load_fer2013(parse_spec(spec)[1], split)
        raise ConfigError(f"split must be train, val, test or all, got {split!r}")
    if split == "train" and fold == 0:
        family, path, protocol = _family_protocol(spec, protocol)
        if family.train_only is not None:
            return family.train_only(path, protocol, seed)
    if split == "all":  # every image once (e.g. cross-dataset evaluation): fold 0's three parts together
        from ferkit.data.dataset import concat_datasets

        first = experiment_splits(spec, protocol, seed)[0]
        parts = [p for p in (first.train, first.val, first.test) if p is not None]
        return concat_datasets(parts, name=spec.split(":", 1)[0] if ":" in spec else first.name)
    return split_part(experiment_split(spec, protocol=protocol, seed=seed, fold=fold), split)


def looks_like_fer2013(path: Path) -> bool:
    """The ImageFolder re-pack (``train/<class>/Training_*``), a folder holding ``fer2013.csv``, a pack
    (``.npz``) or any CSV file (rank 1: the families with their own CSV manifests are tried first)."""
    if path.is_file():
        return path.suffix.lower() in (".csv", ".npz")
    train = path / "train"
    return (train.is_dir() and any(train.glob("*/Training_*"))) or (path / "fer2013.csv").is_file()


@register_dataset(
    "fer2013", ("official",),
    layout="train/<class>/Training_*.jpg + test/<class>/{PublicTest,PrivateTest}_*.jpg, or the Kaggle fer2013.csv (emotion,pixels,Usage)",
    spec="fer2013:/data/fer2013", notes="train = Training, val = PublicTest, test = PrivateTest",
    counter=fer2013_counts, detect=looks_like_fer2013, detect_rank=1, train_only=lambda path, protocol, seed: load_fer2013(path, "Training"),
)
def _fer2013_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    from ferkit.data.fer2013_pack import is_fer2013_pack

    test = None if is_fer2013_pack(path) else load_fer2013(path, "PrivateTest")  # a pack never holds PrivateTest
    return [ExperimentSplit("fer2013", load_fer2013(path, "Training"), load_fer2013(path, "PublicTest"), test)]


def looks_like_ckplus48(path: Path) -> bool:
    """Class folders holding ``S<subject>_..._<frame>.png`` files, the suffix in any case: ``.PNG`` copies taken for a
    plain image folder would lose their subject groups, and its random split would leak subjects."""
    if not path.is_dir():
        return False
    return any(
        file.suffix.lower() == ".png" and fnmatch.fnmatchcase(file.stem, "S[0-9]*_*_*")
        for folder in path.iterdir() if folder.is_dir() for file in folder.iterdir()
    )


@register_dataset(
    "ckplus48", ("kfold10", "random800"),
    layout="<class>/S<subject>_<sequence>_<frame>.png (48x48)", spec="ckplus48:/data/ckplus48",
    notes="kfold10 is subject-independent; random800 (papers 000/001) leaks subjects",
    counter=ckplus_counts, detect=looks_like_ckplus48, detect_rank=1,
)
def _ckplus_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    data = load_ckplus48(path)
    return ckplus_protocol_splits(data, protocol, seed, source=str(path))


def check_protocol_fits(data: FaceDataset, protocol: str, source: str) -> None:
    """Refuse a CK+ set too small for ``protocol``, saying what it has and what the protocol needs (the split
    helpers' own errors speak of n_folds and n_train, which the user never chose)."""
    if protocol == "random800" and len(data) <= 800:
        raise DatasetError(f"{source}: protocol random800 trains on 800 random images and tests on the rest, so it needs more than "
                           f"800 images; found {len(data)} (the full CK+48 has 981); use kfold10 for a smaller set")
    if protocol.startswith("kfold"):
        n_folds, subjects = int(protocol.removeprefix("kfold")), len(set(data.groups or ()))
        if subjects < n_folds:
            raise DatasetError(f"{source}: protocol {protocol} puts each subject in one of {n_folds} test folds, so it needs at least "
                               f"{n_folds} subjects; found {subjects} subject(s) in {len(data)} images (the full CK+48 has 118)")


def ckplus_protocol_splits(data: FaceDataset, protocol: str, seed: int, *, source: str | None = None) -> list[ExperimentSplit]:
    """kfold10: subject-independent folds, validation = 10% of the training subjects.
    random800: papers 000/001's random 800/181 image split (leaks subjects; no validation).
    ``source`` (the dataset's path) names the data in errors."""
    check_protocol_fits(data, protocol, source or data.name)
    if protocol == "random800":
        train_idx, test_idx = random_count_split(len(data), 800, seed)
        return [ExperimentSplit("random800", data.subset(train_idx, "ckplus48/train"), None, data.subset(test_idx, "ckplus48/test"), True)]
    assert data.groups is not None
    folds = subject_kfold(data.labels, data.groups, int(protocol.removeprefix("kfold")), seed)
    out = []
    for k, (train_idx, test_idx) in enumerate(folds):
        train = data.subset(train_idx)
        keep, held = grouped_holdout(train.groups, 0.1, seed + k)  # type: ignore[arg-type]
        out.append(ExperimentSplit(f"fold{k}", train.subset(keep, f"{data.name}/fold{k}/train"), train.subset(held, f"{data.name}/fold{k}/val"), data.subset(test_idx, f"{data.name}/fold{k}/test")))
    return out


@register_dataset(
    "imagefolder", ("auto",),
    layout="<class>/<images>, or train|val|test/<class>/<images>", spec="imagefolder:/data/faces",
    notes="class folders may use aliases (angry, happy, ...); without train/test a stratified 80/10/10 split",
    counter=imagefolder_counts, detect=Path.is_dir, detect_rank=2,  # the catch-all: any other folder
)
def _imagefolder_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """``root/train`` + ``root/test`` (+ optional ``root/val``) when present; else a stratified 80/10/10 split.
    val/ and test/ labels index train's classes, so a model's outputs and the labels it is scored on agree."""
    folders = split_folders(require_dir(path, "image folder root"))
    if folders:
        train = load_image_folder(folders["train"])
        test = load_image_folder(folders["test"], class_names=train.class_names)
        val = load_image_folder(folders["val"], class_names=train.class_names) if "val" in folders else None
        return [ExperimentSplit("imagefolder", train, val, test)]
    data = load_image_folder(path)
    from sklearn.model_selection import train_test_split

    counts = data.class_counts()
    small = [name for name, n in counts.items() if n < 5]
    if small:
        raise DatasetError(f"{path}: classes {small} have fewer than 5 images, too few for a stratified 80/10/10 split; "
                           f"add images or provide train/ and test/ folders")
    idx = np.arange(len(data))
    train_idx, rest = train_test_split(idx, test_size=0.2, random_state=seed, stratify=data.labels)
    val_idx, test_idx = train_test_split(rest, test_size=0.5, random_state=seed, stratify=data.labels[rest] if np.bincount(data.labels[rest]).min(initial=2) >= 2 else None)
    return [ExperimentSplit("holdout", data.subset(train_idx), data.subset(val_idx), data.subset(test_idx))]


# Native-layout families register themselves on import (kept last: they import this module).
import ferkit.data.affectnet  # noqa: E402,F401
import ferkit.data.ferplus  # noqa: E402,F401
import ferkit.data.jaffe  # noqa: E402,F401
import ferkit.data.rafdb  # noqa: E402,F401
import ferkit.data.sfew  # noqa: E402,F401
import ferkit.data.videos  # noqa: E402,F401
