"""Bad input to the video, tracking, drawing, dataset and metrics APIs (an audit's findings; each failed deep inside a
library, crashed or hung the process, or gave a silently wrong result before)."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.data.dataset import FaceDataset, concat_datasets
from ferkit.draw import annotate
from ferkit.errors import FerkitError, FerkitWarning
from ferkit.evaluate.metrics import classification_metrics
from ferkit.evaluate.plots import confusion_matrix_plot
from ferkit.faces import Face
from ferkit.tracking import FaceFollower
from ferkit.video import TemporalSmoother, VideoWriter, iter_frames, representative_frames


def dataset(groups=("s1", "s1", "s2", "s2"), **changes) -> FaceDataset:
    fields = dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 2, 1]), class_names=("x", "y", "z"),
                  ids=("a", "b", "c", "d"), groups=groups, name="d")
    return FaceDataset(**{**fields, **changes})


def test_a_boolean_mask_selects_samples_and_float_or_out_of_range_indices_are_refused():
    assert dataset().subset([True, False, True, False]).ids == ("a", "c")  # was ('b', 'a', 'b', 'a')
    assert dataset().subset(np.array([], np.int64)).ids == ()
    for indices, message in (([0.7, 1.2], "integer indices"), ([9], r"indices must lie in 0..3"), ([True, False], "one entry per sample")):
        with pytest.raises(FerkitError, match=message):
            dataset().subset(indices)


def test_dataset_labels_must_be_integer_class_indices():
    with pytest.raises(FerkitError, match="labels must be a 1-D array of class indices"):
        dataset(labels=np.array([0.0, 1.5, 2.0, 1.0]))
    with pytest.raises(FerkitError, match="must be numpy arrays, got ndarray and list"):
        dataset(labels=[0, 1, 2, 1])


def test_joining_grouped_and_ungrouped_datasets_says_the_groups_are_gone():
    with pytest.warns(FerkitWarning, match="has no subject groups, so the joined dataset has none"):
        joined = concat_datasets([dataset(), dataset(groups=None, name="plain")], "both")
    assert joined.groups is None and len(joined) == 8


def test_metrics_refuse_labels_outside_the_class_list_and_score_nothing_as_zero():
    with pytest.raises(FerkitError, match=r"y_true holds class indices outside 0..2"):
        classification_metrics(np.array([0, 1, 5]), np.array([0, 1, 5]), ("a", "b", "c"))  # was accuracy 1.0
    with pytest.raises(FerkitError, match="of one length"):
        classification_metrics(np.array([0, 1]), np.array([0]), ("a", "b"))
    empty = classification_metrics(np.zeros(0, np.int64), np.zeros(0, np.int64), ("a", "b"))
    assert empty["accuracy"] == 0.0 and empty["confusion_matrix"] == [[0, 0], [0, 0]]


def test_the_smoother_refuses_what_is_not_a_probability_row():
    smoother = TemporalSmoother()
    smoother.update([(0, 0, 10, 10)], np.array([[0.2, 0.8]]))
    for rows in ([[np.nan, np.nan]], [[3.0, 5.0]], [[-1.0, 2.0]]):
        with pytest.raises(FerkitError, match="must be finite, >= 0, and each row must sum to 1"):
            smoother.update([(0, 0, 10, 10)], np.array(rows))
    _, smoothed = smoother.update([(0, 0, 10, 10)], np.array([[0.2, 0.8]]))
    assert np.allclose(smoothed, [[0.2, 0.8]])  # the track is not spoiled by the refused frames


def test_video_writer_takes_single_channel_frames_and_refuses_others_and_bad_fps(tmp_path):
    path = tmp_path / "v.avi"
    with VideoWriter(path, fps=10, frame_size=(64, 48), overwrite=True) as writer:
        for _ in range(3):
            writer.write(np.zeros((48, 64, 1), np.uint8))  # counted as written but undecodable before
        with pytest.raises(FerkitError, match=r"frames must be \(H, W, 3\), \(H, W, 4\) or \(H, W\) uint8"):
            writer.write(np.zeros((48, 64, 2), np.uint8))
    assert len(list(iter_frames(path))) == 3
    for fps in (float("inf"), float("nan"), "10", 0):  # inf made OpenCV's writer hang
        with pytest.raises(FerkitError, match=r"fps must (be a number|lie) in \(0, 1000\]"):
            VideoWriter(tmp_path / "w.avi", fps=fps, frame_size=(64, 48))
    with pytest.raises(FerkitError, match=r"frame_size must be \(width, height\)"):
        VideoWriter(tmp_path / "w.avi", fps=10, frame_size=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.avi"]


def test_a_negative_camera_index_is_refused_not_a_segfault():
    with pytest.raises(FerkitError, match="camera index must be >= 0"):
        list(iter_frames(-5))


def test_representative_frames_refuses_nan_settings_and_fractional_counts():
    frames = [np.full((8, 8), v, np.uint8) for v in [0] * 5 + [200] + [0] * 5 + [100] * 5]
    for kwargs, message in (({"mad_threshold": float("nan")}, r"mad_threshold \(None ranks every frame\) must be > 0, got nan"), ({"sigma": float("nan")}, "sigma"),
                            ({"lags": [1.7]}, "lags must be a sequence of positive int"), ({"lags": 2}, "lags"), ({"n": 2.5}, "n .* must be an int")):
        with pytest.raises(FerkitError, match=message):
            representative_frames(frames, trim=0, **kwargs)
    with pytest.raises(FerkitError, match="not a live camera index"):
        representative_frames(0)


def test_face_follower_options_frames_and_boxes_are_checked():
    for options in ({"search": float("nan")}, {"search": float("inf")}, {"keep_missed": 1.5}, {"template_size": 8.9}, {"template_size": 10**5}):
        with pytest.raises(FerkitError):
            FaceFollower(**options)
    gray = np.zeros((120, 160), np.uint8)
    with pytest.raises(FerkitError, match=r"face box \(500, 500, 40, 40\) lies outside the 160x120 frame"):
        FaceFollower().start(gray, [Face(500, 500, 40, 40, 0.9)])
    follower = FaceFollower()
    follower.start(gray, [Face(40, 30, 40, 40, 0.9)])
    with pytest.raises(FerkitError, match="gray frames"):
        follower.follow(np.zeros((120, 160, 3), np.uint8))


def test_annotate_refuses_probabilities_that_are_not_in_0_1():
    image = np.zeros((60, 60, 3), np.uint8)
    for value in (87, None, -0.1):
        with pytest.raises(FerkitError, match=r"probabilities\[0\] \(the probability of face's label\) must (be a number|lie) in \[0, 1\]"):
            annotate(image, [Face(5, 5, 30, 30, 0.9)], ["happiness"], [value])


def test_a_face_with_nan_landmarks_or_score_is_refused_where_it_is_made():
    points = np.arange(10, dtype=np.float32).reshape(5, 2) + 10
    assert Face(5, 5, 30, 30, 0.9, points).landmarks.shape == (5, 2)
    points[2, 0] = np.nan  # annotate raised "cannot convert float NaN to integer" inside cv2's drawing
    with pytest.raises(FerkitError, match="landmarks must be finite"):
        Face(5, 5, 30, 30, 0.9, points)
    with pytest.raises(FerkitError, match="score must be a finite number"):
        Face(5, 5, 30, 30, float("nan"))


def test_confusion_matrix_plot_checks_the_table_against_the_class_names(tmp_path):
    path = tmp_path / "cm.png"
    good = [[3, 1], [0, 2]]
    assert confusion_matrix_plot(good, ["a", "b"], path).stat().st_size > 0
    for cm, names, message in (
        (good, ["a", "b", "c"], r"must be 3x3 .* got shape \(2, 2\)"),  # drew a 2x2 table under three labels
        ([[1, 2, 3], [4, 5, 6]], ["a", "b"], "must be 2x2"),
        ([[1, float("nan")], [0, 2]], ["a", "b"], "finite counts"),  # int(NaN) inside the cell text
        ([[1, -1], [0, 2]], ["a", "b"], "finite counts"),
        ([["x", "y"], ["z", "w"]], ["a", "b"], "square table of counts"),
        (good, "ab", "list of strings"),
    ):
        before = path.read_bytes()
        with pytest.raises(FerkitError, match=message):
            confusion_matrix_plot(cm, names, path)
        assert path.read_bytes() == before  # the plot already written is kept
