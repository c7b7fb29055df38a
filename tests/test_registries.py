"""Every build-by-name table in ferkit behaves the same: checked once, generically, for each registry.

Per registry: a duplicate registration raises, an unknown name lists the valid ones, a wrong option
is a ``ConfigError``, and an error raised inside a builder keeps its traceback. Then what the
registrations carry: the sampler/loss pairing check and dataset-family detection.

To cover another registry (e.g. the recipes once they use ``ferkit.registry.Registry``), append one
``RegistryCase`` to ``CASES``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from ferkit.errors import ConfigError, DatasetError
from ferkit.registry import DuplicateNameError, Registry


def failing_builder(*args: Any, **kwargs: Any) -> Any:
    """Accepts any options, then fails in its own body: that TypeError must reach the caller untouched."""
    return len(0)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RegistryCase:
    """How to reach one registry through its public API."""

    id: str
    registry: Callable[[], Registry]
    register: Callable[[str, Callable[..., Any]], Any]  # register(name, builder) the public way
    build: Callable[..., Any]  # build(name, **options) the public way
    valid_name: str
    wrong_options: dict[str, Any]


def _models() -> Registry:
    from ferkit.models import MODEL_REGISTRY

    return MODEL_REGISTRY


def _register_model(name: str, builder: Callable[..., Any]) -> Any:
    from ferkit.models import register_model

    return register_model(name)(builder)


def _build_model(name: str, **options: Any) -> Any:
    from ferkit.models import build_model

    return build_model(name, num_classes=3, **options)


def _losses() -> Registry:
    from ferkit.losses import LOSS_REGISTRY

    return LOSS_REGISTRY


def _register_loss(name: str, builder: Callable[..., Any]) -> Any:
    from ferkit.losses import register_loss

    return register_loss(name)(builder)


def _build_loss(name: str, **options: Any) -> Any:
    from ferkit.losses import build_loss

    return build_loss(name, num_classes=3, embedding_dim=4, class_counts=[2, 2, 2], **options)


def _detectors() -> Registry:
    from ferkit.faces import DETECTOR_REGISTRY

    return DETECTOR_REGISTRY


def _register_detector(name: str, builder: Callable[..., Any]) -> Any:
    from ferkit.faces import register_detector

    return register_detector(name)(builder)


def _build_detector(name: str, **options: Any) -> Any:
    from ferkit.faces import build_detector

    return build_detector(name, **options)


def _samplers() -> Registry:
    import ferkit.data  # noqa: F401  (registers pk, triplet, pairs)
    from ferkit.data.batching import BATCH_BUILDERS

    return BATCH_BUILDERS


def _register_sampler(name: str, builder: Callable[..., Any]) -> Any:
    from ferkit.data.batching import register_batch_builder

    return register_batch_builder(name)(builder)


def _build_sampler(name: str, **options: Any) -> Any:
    from ferkit.data.batching import build_batches

    return build_batches(name, np.array([0, 1, 0, 1, 2, 2]), 2, **options)


def _datasets() -> Registry:
    from ferkit.data.registry import DATASETS

    return DATASETS


def _register_dataset(name: str, builder: Callable[..., Any]) -> Any:
    from ferkit.data.registry import register_dataset

    return register_dataset(
        name, ("only",), layout="-", spec=f"{name}:/data", notes="-", counter=lambda path, log: {}, detect=lambda path: False,
    )(builder)


def _build_dataset(name: str, **options: Any) -> Any:
    """A dataset family's options are its protocols; the path exists so that only the name or option can be wrong."""
    from ferkit.data.registry import experiment_splits

    return experiment_splits(f"{name}:{Path(__file__).parent}", **options)


CASES = [
    RegistryCase("models", _models, _register_model, _build_model, "modified_resnet18", {"dropuot": 0.2}),
    RegistryCase("losses", _losses, _register_loss, _build_loss, "ce", {"label_smothing": 0.1}),
    RegistryCase("detectors", _detectors, _register_detector, _build_detector, "haar", {"scale_factr": 1.2}),
    RegistryCase("samplers", _samplers, _register_sampler, _build_sampler, "shuffle", {"drop_lats": True}),
    RegistryCase("datasets", _datasets, _register_dataset, _build_dataset, "imagefolder", {"protocol": "kfold99"}),
    # RegistryCase("recipes", ...): add here when the recipes registry is a ferkit.registry.Registry.
]
ids = [case.id for case in CASES]


@pytest.fixture
def temporary_name(request):
    """A fresh name for a temporary entry, removed from every registry afterwards."""
    name = f"zz_temporary_{request.node.name.split('[')[-1].rstrip(']')}"
    yield name
    for case in CASES:
        if name in case.registry():
            case.registry().unregister(name)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_every_registry_is_a_generic_registry(case: RegistryCase) -> None:
    registry = case.registry()
    assert isinstance(registry, Registry) and case.valid_name in registry


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_duplicate_registration_raises(case: RegistryCase) -> None:
    before = case.registry().get(case.valid_name)
    with pytest.raises(DuplicateNameError, match=f"'{case.valid_name}' registered twice"):
        case.register(case.valid_name, failing_builder)
    assert case.registry().get(case.valid_name) is before  # the first registration is kept


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_unknown_name_lists_the_valid_ones(case: RegistryCase) -> None:
    registry = case.registry()
    with pytest.raises(ConfigError) as info:
        case.build("no_such_entry")
    message = str(info.value)
    assert f"unknown {registry.kind} 'no_such_entry'" in message
    listed = message.split(": ", 1)[1]
    assert listed.split(", ") == registry.names()


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_wrong_option_is_a_config_error_naming_it(case: RegistryCase) -> None:
    (option, value), = case.wrong_options.items()
    with pytest.raises(ConfigError, match=str(value) if option == "protocol" else option):
        case.build(case.valid_name, **case.wrong_options)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_error_inside_a_builder_keeps_its_traceback(case: RegistryCase, temporary_name: str) -> None:
    case.register(temporary_name, failing_builder)
    with pytest.raises(TypeError) as info:
        case.build(temporary_name)
    assert not isinstance(info.value, ConfigError)
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "failing_builder"


# --- the sampler/loss pairing ------------------------------------------------------------------

def test_pairing_check_names_the_loss_and_the_sampler() -> None:
    from ferkit.train.pairing import check_sampler_for_loss

    with pytest.raises(ConfigError, match=r"loss 'siamese' .*pairs.*sampler 'shuffle'.*use sampler 'pairs'"):
        check_sampler_for_loss("shuffle", "siamese")
    with pytest.raises(ConfigError, match=r"loss 'triplet_abn' .*triplets.*sampler 'pk'.*use sampler 'triplet'"):
        check_sampler_for_loss("pk", "triplet_abn")
    check_sampler_for_loss("pairs", "siamese")
    check_sampler_for_loss("triplet", "triplet_abn")
    for sampler in ("shuffle", "balanced", "pk", "pairs", "triplet"):  # a loss over plain rows takes any sampler
        check_sampler_for_loss(sampler, "ce")
    with pytest.raises(ConfigError, match="available samplers"):
        check_sampler_for_loss("shufle", "ce")


def test_every_loss_layout_has_a_sampler_that_produces_it() -> None:
    from ferkit.data.batching import BATCH_BUILDERS
    from ferkit.losses import LOSS_REGISTRY

    produced = {BATCH_BUILDERS.metadata(name)["batch_layout"] for name in _samplers()}
    needed = {LOSS_REGISTRY.metadata(name)["batch_layout"] for name in LOSS_REGISTRY}
    assert needed <= produced and {"rows", "pairs", "triplets"} <= produced


def test_recipe_validation_refuses_a_mismatched_pair_and_every_shipped_recipe_validates() -> None:
    from ferkit.train.config import Recipe, validate_recipe
    from ferkit.train.recipes import RECIPES

    with pytest.raises(ConfigError, match=r"'siamese'.*'shuffle'"):
        validate_recipe(Recipe(name="pairing-check", loss="siamese", sampler="shuffle"))
    assert len(RECIPES) > 10
    for recipe in RECIPES.values():
        validate_recipe(recipe)


# --- dataset families: detection walks the registry ---------------------------------------------

def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _layouts(root: Path) -> dict[str, Path]:
    """One minimal tree or file per family: names and manifest headers only (detection never decodes)."""
    _touch(root / "sfew" / "Train" / "Happy" / "a.png")
    _touch(root / "sfew" / "Val" / "Happy" / "b.png")
    _touch(root / "an" / "training.csv", "subDirectory_filePath,expression\n")
    _touch(root / "fp" / "fer2013new.csv", "Usage,Image name,neutral,NF\n")
    _touch(root / "fp" / "fer2013.csv", "emotion,pixels,Usage\n")  # FER+ lies beside the original CSV
    return {
        "fer2013": _touch(root / "fer" / "train" / "happy" / "Training_1.jpg").parents[2],
        "fer2013 csv": _touch(root / "kaggle" / "fer2013.csv", "emotion,pixels,Usage\n"),
        "fer2013 folder holding the csv": root / "kaggle",
        "ckplus48": _touch(root / "ck" / "happy" / "S005_001_00000011.png").parents[1],
        "imagefolder": _touch(root / "faces" / "happy" / "a.png").parents[1],
        "rafdb": _touch(root / "raf" / "EmoLabel" / "list_patition_label.txt").parents[1],
        "affectnet": root / "an",
        "affectnet csv": root / "an" / "training.csv",
        "jaffe": _touch(root / "jaffe" / "KA.AN1.39.tiff").parent,
        "sfew": root / "sfew",
        "ferplus": root / "fp",
        "ferplus csv": root / "fp" / "fer2013new.csv",
        "videos": _touch(root / "mmi" / "happy" / "clip.avi").parents[1],
        "videos csv": _touch(root / "clips.csv", "path,label\n"),
    }


def test_detection_walks_the_registry(tmp_path: Path) -> None:
    from ferkit.data.registry import detect_family

    for expected, path in _layouts(tmp_path).items():
        assert detect_family(path) == expected.split()[0], expected
    with pytest.raises(DatasetError, match="not found"):
        detect_family(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no known dataset layout"):
        detect_family(_touch(tmp_path / "notes.txt"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    assert detect_family(binary) == "fer2013"  # no manifest header matches: the Kaggle file's catch-all (loading then names the file)


def test_a_new_family_is_one_declaration(tmp_path: Path, temporary_name: str) -> None:
    """Registered once, a family is recognised, inspected, listed and split, with nothing else to edit."""
    from ferkit.data.inspect import describe_formats, inspect_dataset
    from ferkit.data.registry import experiment_splits, register_dataset

    seen: list[tuple[str, int]] = []

    @register_dataset(
        temporary_name, ("halves", "all"), layout="MANIFEST.widget + <images>", spec=f"{temporary_name}:/data/widgets", notes="a test family",
        counter=lambda path, log: {"all": {"happy": 2}}, detect=lambda path: (path / "MANIFEST.widget").is_file(),
    )
    def splits(path: Path, protocol: str, seed: int) -> list:
        seen.append((protocol, seed))
        return []

    root = _touch(tmp_path / "widgets" / "MANIFEST.widget").parent
    _touch(root / "happy" / "a.png")  # would otherwise be an image folder: the specific detector wins
    report = inspect_dataset(root)
    assert report.family == temporary_name and report.splits == {"all": {"happy": 2}}
    listed = {fmt["name"]: fmt for fmt in describe_formats()}
    assert listed[temporary_name]["protocols"] == ["halves", "all"] and listed[temporary_name]["layout"] == "MANIFEST.widget + <images>"
    assert experiment_splits(str(root), seed=3) == [] and seen == [("halves", 3)]  # bare path, default protocol
    with pytest.raises(ConfigError, match="choose from halves, all"):
        experiment_splits(f"{temporary_name}:{root}", "thirds")
