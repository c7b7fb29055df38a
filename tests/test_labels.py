import pytest

from ferkit.errors import LabelError
from ferkit.labels import CKPLUS_LABELS, FER2013_LABELS, canonical_label, map_labels


def test_aliases_map_to_canonical_names():
    assert canonical_label("Angry") == "anger"
    assert canonical_label("happy") == "happiness"
    assert canonical_label(" sad ") == "sadness"
    assert canonical_label("NE") == "neutral"


def test_unknown_label_names_the_label():
    with pytest.raises(LabelError, match="'bored'"):
        canonical_label("bored")


def test_fer2013_order_is_the_published_0_to_6_order():
    assert FER2013_LABELS == ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def test_mapping_ckplus_onto_a_fer2013_model_reports_contempt_unmapped():
    mapping = map_labels(CKPLUS_LABELS, FER2013_LABELS)
    assert mapping.unmapped == ("contempt",)
    assert mapping.index_map[CKPLUS_LABELS.index("happiness")] == FER2013_LABELS.index("happiness")


def test_mapping_with_nothing_in_common_is_an_error():
    with pytest.raises(LabelError):
        map_labels(("contempt",), ("anger", "fear"))
