"""Recognizer, predict CLI and ONNX export, on a tiny model the tests train and on the shipped one."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ferkit.cli import main
from ferkit.errors import ImageReadError, NoFaceError, VideoError
from ferkit.recognizer import Recognizer, to_bgr

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"



def test_predict_on_the_example_photo_finds_one_face(tiny_checkpoint):
    result = Recognizer(tiny_checkpoint).predict(EXAMPLES / "astronaut.jpg")
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.label in face.probabilities and abs(sum(face.probabilities.values()) - 1) < 1e-3
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 200  # her face, top left of the portrait


def test_composite_gives_several_faces_and_largest_only_one(tiny_checkpoint):
    assert len(Recognizer(tiny_checkpoint).predict(EXAMPLES / "group_composite.jpg").faces) >= 3
    assert len(Recognizer(tiny_checkpoint, largest_only=True).predict(EXAMPLES / "group_composite.jpg").faces) == 1


def test_inputs_as_array_rgb_and_pil_agree(tiny_checkpoint):
    from PIL import Image

    recognizer = Recognizer(tiny_checkpoint, tta="none")
    bgr = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    a = recognizer.predict(bgr).faces[0].probabilities
    b = recognizer.predict(bgr[:, :, ::-1].copy(), color="rgb").faces[0].probabilities
    c = recognizer.predict(Image.open(EXAMPLES / "astronaut.jpg")).faces[0].probabilities
    assert a == b == c


def test_clear_errors_for_missing_non_image_and_no_face(tiny_checkpoint, tmp_path):
    recognizer = Recognizer(tiny_checkpoint)
    with pytest.raises(ImageReadError, match="not found"):
        recognizer.predict(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.jpg"):
        recognizer.predict(tmp_path / "notes.jpg")
    blank = np.full((200, 200, 3), 128, np.uint8)
    assert recognizer.predict(blank).faces == []
    with pytest.raises(NoFaceError, match="no face"):
        recognizer.predict(blank, require_face=True)
    with pytest.raises(ImageReadError):
        to_bgr(np.zeros((4, 4), np.float32))


def test_predict_cli_json_csv_annotated_and_partial_failure(tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\x00\x01")
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    code = main(["predict", str(EXAMPLES), str(tmp_path / "broken.jpg"), "--model", str(tiny_checkpoint), "--json", str(out_json),
                 "--csv", str(out_csv), "--save-annotated", str(tmp_path / "ann"), "--quiet"])
    assert code == 1  # the broken file fails, the rest still complete
    payload = json.loads(out_json.read_text())
    assert {Path(f["file"]).name for f in payload["faces"]} == {"astronaut.jpg", "group_composite.jpg"}
    face = payload["faces"][0]
    assert set(face) == {"file", "frame", "face", "box", "landmarks", "label", "confidence", "probabilities"}
    assert len(face["box"]) == 4 and set(face["probabilities"]) == set(payload["class_names"])
    assert payload["errors"][0]["file"].endswith("broken.jpg")
    assert out_csv.read_text().splitlines()[0].startswith("file,frame,face,x,y,w,h")
    assert (tmp_path / "ann" / "astronaut_annotated.png").exists()
    assert "broken.jpg" in capsys.readouterr().err


def test_predict_on_a_short_generated_video(tiny_checkpoint, tmp_path):
    path = tmp_path / "clip.avi"
    frame = cv2.imread(str(EXAMPLES / "astronaut.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for i in range(12):
        writer.write(np.roll(frame, i, axis=1))
    writer.release()
    results = list(Recognizer(tiny_checkpoint).predict_video(path, every_n=3, annotated_path=tmp_path / "ann.avi"))
    assert [r.frame_index for r in results] == [0, 3, 6, 9]
    assert all(len(r.faces) == 1 for r in results)
    assert (tmp_path / "ann.avi").exists()
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(VideoError):
        list(Recognizer(tiny_checkpoint).predict_video(tmp_path / "corrupt.mp4"))
    # The CLI: --max-frames stops a video early; a camera that cannot be opened is a clear error, not a traceback.
    out = tmp_path / "video.json"
    assert main(["predict", str(path), "--model", str(tiny_checkpoint), "--every-n", "3", "--max-frames", "2", "--json", str(out), "--quiet"]) == 0
    assert [row["frame"] for row in json.loads(out.read_text())["faces"]] == [0, 3]


def test_an_annotated_video_plays_at_its_sources_speed(tiny_checkpoint, tmp_path):
    """The copy was written at 25 / every_n frames/s whatever the source's rate: an 8 frames/s clip sampled every
    2nd frame played at 12.5 instead of 4."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 8, (48, 48))
    for i in range(8):
        writer.write(np.full((48, 48, 3), 30 * i, np.uint8))
    writer.release()
    annotated = tmp_path / "ann.avi"
    assert len(list(Recognizer(tiny_checkpoint, detector="none").predict_video(path, every_n=2, annotated_path=annotated))) == 4
    capture = cv2.VideoCapture(str(annotated))
    assert capture.get(cv2.CAP_PROP_FPS) == 4.0 and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 4
    capture.release()


@pytest.mark.parametrize("argv, message", [
    (["--camera", "57"], "cannot open camera 57"),
    ([], "no inputs: give image/video paths or --camera"),
    (["--camera", "0", "x.jpg"], "either --camera or input paths"),
    (["x.jpg", "--max-frames", "0"], "--max-frames must be >= 1"),
    (["x.jpg", "--look-back", "-1"], "--look-back must be >= 0"),
    (["x.jpg", "--detect-every", "0"], "--detect-every must be >= 1"),
    (["x.jpg", "--detect-scale", "1.5"], "--detect-scale must lie in (0, 1]"),
])
def test_predict_cli_camera_and_frame_limit_errors(tiny_checkpoint, capsys, argv, message):
    assert main(["predict", *argv, "--model", str(tiny_checkpoint)]) == 2
    assert message in capsys.readouterr().err


def test_onnx_and_torchscript_match_pytorch(tiny_checkpoint, tmp_path):
    from ferkit.artifacts import load_model, load_onnx
    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.export import export_model

    onnx_path = export_model(tiny_checkpoint, tmp_path / "m.onnx", "onnx")
    ts_path = export_model(tiny_checkpoint, tmp_path / "m.ts", "torchscript")
    images = np.random.default_rng(0).integers(0, 255, (10, 48, 48)).astype(np.uint8)
    loaded = load_model(tiny_checkpoint)
    reference = predict_probabilities(loaded.model, images)
    onnx_model = load_onnx(onnx_path)
    assert onnx_model.class_names == loaded.class_names
    np.testing.assert_allclose(predict_probabilities(onnx_model.model, images), reference, atol=1e-4)
    scripted = torch.jit.load(str(ts_path))
    from ferkit.artifacts import to_model_input

    with torch.no_grad():
        scripted_probs = scripted(to_model_input(torch.from_numpy(images))).numpy()
    np.testing.assert_allclose(scripted_probs, reference, atol=1e-4)
    # The recognizer runs on the ONNX file too
    assert len(Recognizer(onnx_path).predict(EXAMPLES / "astronaut.jpg").faces) == 1


def test_shipped_default_model_predicts_offline():
    """The committed default model reads the smiling astronaut as happy, with the same numbers in both backends."""
    from ferkit.weights import default_model_path

    results = {backend: Recognizer(backend=backend).predict(EXAMPLES / "astronaut.jpg") for backend in ("onnx", "torch")}
    faces = {backend: result.faces for backend, result in results.items()}
    assert [len(f) for f in faces.values()] == [1, 1]
    face = faces["torch"][0]
    assert face.label == "happiness" and face.confidence > 0.5
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert faces["onnx"][0].probabilities == pytest.approx(face.probabilities, abs=1e-3)
    assert Recognizer().loaded.path == default_model_path() and Recognizer().loaded.kind == "ensemble"


def test_onnx_without_ferkit_metadata_is_refused(tmp_path):
    import onnx
    from ferkit.artifacts import OnnxClassifier
    from ferkit.errors import CheckpointError

    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["input"], ["probabilities"])], "g",
                                   [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 7])],
                                   [onnx.helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, [1, 7])])
    path = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(CheckpointError, match="metadata"):
        OnnxClassifier(path)


def test_bad_tta_is_refused_at_construction(tiny_checkpoint):
    from ferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="tta"):
        Recognizer(tiny_checkpoint, tta="flp")


def test_yunet_detector_gives_landmarks_to_the_recognizer_and_the_cli(tiny_checkpoint, tmp_path, capsys):
    # YuNet through OpenCV's decoder, on the stand-in model of tests/data/fake_yunet.py: the faces carry
    # five landmarks, which alignment uses, and `ferkit predict --detector-model` finds the file.
    from data.fake_yunet import bright_cell_image, expected_face, write_fake_yunet

    model = write_fake_yunet(tmp_path / "yunet.onnx")
    image = bright_cell_image(4, 5)
    result = Recognizer(tiny_checkpoint, detector="yunet", detector_options={"model_path": model, "score_threshold": 0.5}).predict(image)
    assert len(result.faces) == 1
    _, landmarks = expected_face(4, 5)
    np.testing.assert_allclose(np.array(result.faces[0].landmarks), landmarks, atol=0.5)
    path = tmp_path / "cell.png"
    cv2.imwrite(str(path), image)
    assert main(["predict", str(path), "--model", str(tiny_checkpoint), "--detector", "yunet", "--detector-model", str(model), "--json", "-", "--quiet"]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 5


def test_embedding_pipeline_is_a_model_for_the_recognizer_and_the_cli(tiny_checkpoint, tmp_path, capsys):
    # Paper 002's saved pipeline (network + fitted SVM + labels) predicts through the same API and CLI.
    from ferkit.artifacts import load_model
    from ferkit.classifiers import EmbeddingPipeline, fit_classifiers
    from ferkit.errors import CheckpointError, ConfigError
    from ferkit.evaluate.predict import predict_embeddings

    loaded = load_model(tiny_checkpoint)
    crops = np.random.default_rng(0).integers(0, 256, (28, 48, 48), dtype=np.uint8)
    labels = np.arange(28) % len(loaded.class_names)
    fitted = fit_classifiers(predict_embeddings(loaded.model, crops, in_chans=1, image_size=48), labels, ["svm_linear"])["svm_linear"]
    pipeline = EmbeddingPipeline(loaded.model, fitted, loaded.class_names, model_name=loaded.model_name,
                                 model_kwargs={"num_classes": len(loaded.class_names), **loaded.recipe.get("model_kwargs", {})}, classifier_name="svm_linear")
    path = pipeline.save(tmp_path / "pipeline.pt")

    recognizer = Recognizer(path, tta="none")
    probs = recognizer.classify_crops(crops[:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(probs.argmax(1), pipeline.predict(crops[:5]))  # the SVM's own decision
    result = recognizer.predict(EXAMPLES / "astronaut.jpg")
    _, face_crops = recognizer.locate_faces(to_bgr(EXAMPLES / "astronaut.jpg"))
    assert [f.label for f in result.faces] == [loaded.class_names[i] for i in pipeline.predict(face_crops)]
    assert main(["predict", str(EXAMPLES / "astronaut.jpg"), "--model", str(path), "--json", "-", "--quiet"]) == 0
    assert len(json.loads(capsys.readouterr().out)["faces"]) == 1
    with pytest.raises(ConfigError, match="tta 'none' or 'flip'"):
        Recognizer(path, tta="tencrop")
    with pytest.raises(ConfigError, match="pipeline.pt is an embedding pipeline, which runs only in PyTorch"):  # was run in PyTorch silently
        Recognizer(path, backend="onnx")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="is not a ferkit model file .* no format tag"):  # neither kind, said once
        Recognizer(other)
