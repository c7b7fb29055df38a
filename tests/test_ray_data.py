"""The Ray Data example (ferkit.ray_data) on a local Ray instance; the Ray test is skipped unless the `ray` extra is
installed, the missing-extra message is checked everywhere."""

import importlib.util
import sys

import cv2
import numpy as np
import pytest

from data.fixtures import class_pattern
from ferkit.errors import ConfigError
from ferkit.ray_data import predict_paths
from ferkit.recognizer import Recognizer

# decided at collection, so that no fixture (the session's tiny checkpoint) is built for a test that is skipped
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed: the optional extra `pip install 'ferkit[ray]'` runs this test")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    # Ray renices its workers by +15; with the cores busy (a training run, the rest of the suite) the actor's
    # constructor then barely runs. The raylet reads this at start, so it only needs to be set around init.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_worker_niceness", "0")
        ray.init(num_cpus=2, object_store_memory=100 * 1024**2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # a stuck actor fails the test with Ray Data's own message instead of waiting for its 30-minute default
    ray.data.DataContext.get_current().execution_no_progress_timeout_s = 240
    yield ray
    ray.shutdown()


@needs_ray
def test_map_batches_with_one_recognizer_per_worker_gives_what_predict_many_gives(local_ray, tiny_checkpoint, tmp_path):
    model = str(tiny_checkpoint)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(9):
        paths.append(tmp_path / f"face_{i}.png")
        cv2.imwrite(str(paths[-1]), class_pattern(i % 7, rng))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths.append(tmp_path / "broken.png")

    faceless = tmp_path / "faceless.png"  # uniform grey: the Haar cascade finds no face in it
    cv2.imwrite(str(faceless), np.full((96, 96), 128, np.uint8))
    rows = predict_paths([str(faceless)], model=model, detector="haar", tta="none", require_face=False).take_all()
    assert len(rows) == 1 and rows[0]["face"] == -1 and rows[0]["error"] == "" and rows[0]["label"] == ""  # kept, not dropped
    rows = predict_paths([str(faceless)], model=model, detector="haar", tta="none").take_all()
    assert len(rows) == 1 and rows[0]["face"] == -1 and "face" in rows[0]["error"]  # require_face: an error row

    rows = predict_paths([str(p) for p in paths], model=model, detector="none", tta="none", concurrency=1, batch_size=4).take_all()
    by_file = {row["file"]: row for row in rows}
    assert len(rows) == len(paths) and set(by_file) == {str(p) for p in paths}
    broken = by_file[str(tmp_path / "broken.png")]
    assert broken["face"] == -1 and broken["label"] == "" and "broken.png" in broken["error"]
    reference = Recognizer(model, detector="none", tta="none")
    for result in reference.predict_many(paths[:-1]):
        row = by_file[result.source]
        face = result.faces[0]
        assert row["label"] == face.label and row["error"] == "" and row["face"] == face.face_index == 0
        assert (row["x"], row["y"], row["w"], row["h"]) == face.box
        assert [row[f"prob_{n}"] for n in reference.class_names] == pytest.approx([face.probabilities[n] for n in reference.class_names], abs=1e-5)


def test_predict_paths_names_the_extra_when_ray_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ConfigError, match=r"pip install 'ferkit\[ray\]'"):
        predict_paths(["a.png"])


def test_predict_paths_refuses_an_empty_actor_pool():
    with pytest.raises(ConfigError, match="concurrency"):
        predict_paths(["a.png"], concurrency=0)


def test_predict_paths_refuses_a_gpu_device_without_a_gpu_reservation():
    with pytest.raises(ConfigError, match="num_gpus"):
        predict_paths(["a.png"], device="cuda")
    with pytest.raises(ConfigError, match="num_gpus"):
        predict_paths(["a.png"], num_gpus=-1)
