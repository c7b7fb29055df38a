"""The Ray Data example (ferkit.ray_data) on a local Ray instance; skipped unless the `ray` extra is installed."""

from pathlib import Path

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: the optional extra `pip install 'ferkit[ray]'` runs this test")

from data.fixtures import class_pattern, write_fer2013_folder  # noqa: E402
from ferkit.cli import main  # noqa: E402
from ferkit.ray_data import predict_paths  # noqa: E402
from ferkit.recognizer import Recognizer  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_map_batches_with_one_recognizer_per_worker_gives_what_predict_many_gives(local_ray, tmp_path):
    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--out", str(tmp_path / "run"), "--quiet", "--set", "epochs=1", "--no-test"]) == 0
    model = str(tmp_path / "run" / "best.pt")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(9):
        paths.append(tmp_path / f"face_{i}.png")
        cv2.imwrite(str(paths[-1]), class_pattern(i % 7, rng))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths.append(tmp_path / "broken.png")

    rows = predict_paths([str(p) for p in paths], model=model, detector="none", tta="none", concurrency=1, batch_size=4).take_all()
    by_file = {row["file"]: row for row in rows}
    assert len(rows) == len(paths) and set(by_file) == {str(p) for p in paths}
    assert by_file[str(tmp_path / "broken.png")]["face"] == -1 and "broken.png" in by_file[str(tmp_path / "broken.png")]["error"]
    reference = Recognizer(model, detector="none", tta="none")
    for result in reference.predict_many(paths[:-1]):
        row = by_file[result.source]
        face = result.faces[0]
        assert row["label"] == face.label and row["error"] == ""
        assert [row[f"prob_{n}"] for n in reference.class_names] == pytest.approx([face.probabilities[n] for n in reference.class_names], abs=1e-5)
