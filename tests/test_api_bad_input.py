"""Bad input to the Python API (Recognizer, predict_many, predict_video, VideoWriter) gets a clear FerkitError at the
call, never a traceback from deep inside, and nothing already written is lost."""

import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from data.fixtures import class_pattern
from ferkit.bulk import FailedInput
from ferkit.devices import resolve_device
from ferkit.errors import CheckpointError, ConfigError, FerkitWarning, ImageReadError, NoFaceError, OutputError, VideoError
from ferkit.recognizer import ImagePrediction, Recognizer, to_bgr
from ferkit.video import VideoWriter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def recognizer(tiny_checkpoint) -> Recognizer:
    """The whole image is the face; ONNX Runtime on the CPU (the default backend)."""
    return Recognizer(tiny_checkpoint, detector="none")


@pytest.fixture(scope="module")
def torch_recognizer(tiny_checkpoint) -> Recognizer:
    return Recognizer(tiny_checkpoint, detector="none", backend="torch")


@pytest.fixture()
def face_png(tmp_path) -> Path:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), class_pattern(3, np.random.default_rng(0)))
    return path


@pytest.fixture()
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48))
    for i in range(6):
        writer.write(cv2.cvtColor(class_pattern(i % 7, np.random.default_rng(i)), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A 1-bit PNG of about 100 bytes whose header claims ``width`` x ``height`` (its pixel data is never decoded here)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def oversized_png(path: Path) -> Path:
    """A PNG whose header claims 100000 x 100000 pixels: OpenCV refuses it with a cv2.error, not None."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------------ construction


def test_device_none_means_auto_and_a_non_name_is_a_config_error(tiny_checkpoint):
    assert resolve_device(None) == resolve_device("auto")
    for bad in (0, ["cpu"], 1.5):
        with pytest.raises(ConfigError, match="device must be a name"):
            resolve_device(bad)
    assert Recognizer(tiny_checkpoint, detector="none", backend="torch", device=None).device == str(resolve_device("auto"))


def test_a_model_that_is_not_a_path_is_a_config_error():
    for bad in (123, b"model.pt", ["model.pt"]):
        with pytest.raises(ConfigError, match="file path"):
            Recognizer(bad, detector="none")


def test_an_unknown_detector_is_refused_before_the_model_is_read(tmp_path):
    with pytest.raises(ConfigError, match="unknown face detector 'retinaface'.*haar.*'none'"):
        Recognizer(tmp_path / "missing.pt", detector="retinaface")  # a model error would come first if it were read first
    with pytest.raises(ConfigError, match="unknown face detector None"):
        Recognizer(tmp_path / "missing.pt", detector=None)
    with pytest.raises(CheckpointError, match="not found"):  # a known name goes on to the model
        Recognizer(tmp_path / "missing.pt", detector="none")


def test_a_folder_where_a_file_is_expected_is_named_as_a_folder(recognizer, tmp_path, face_png):
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="adir is a folder, not a model file"):
        Recognizer(folder, detector="none")
    with pytest.raises(ImageReadError, match="adir is a folder, not an image file"):
        recognizer.predict(folder)
    with pytest.raises(VideoError, match="adir is a folder, not a video file"):
        list(recognizer.predict_video(folder))
    results = list(recognizer.predict_many([face_png, folder], errors="record"))
    assert isinstance(results[0], ImagePrediction)
    assert isinstance(results[1], FailedInput) and "is a folder" in results[1].error and "iter_input_paths" in results[1].error


# ------------------------------------------------------------------------------------------------ images


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 0), (5, 0, 3), (0, 5), (0, 7, 4)])
def test_an_image_without_pixels_is_an_image_read_error_naming_its_shape(recognizer, shape):
    with pytest.raises(ImageReadError, match=rf"no pixels: shape \({shape[0]}, {shape[1]}"):
        recognizer.predict(np.zeros(shape, np.uint8))
    with pytest.raises(ImageReadError, match="no pixels"):
        to_bgr(Image.new("RGB", (shape[1], shape[0])))


def test_record_mode_records_empty_and_undecodable_images_and_goes_on(tiny_checkpoint, tmp_path, face_png):
    """With a real detector an empty array used to escape as cv2.error; an oversized PNG header still does in OpenCV."""
    haar = Recognizer(tiny_checkpoint, detector="haar", backend="torch")
    big = oversized_png(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match=r"big.png is \d+ pixels; the limit is"):  # refused from its header now
        haar.predict(big)
    results = list(haar.predict_many([np.zeros((0, 0, 3), np.uint8), big, face_png], errors="record"))
    assert [type(r) for r in results] == [FailedInput, FailedInput, ImagePrediction]
    assert "no pixels" in results[0].error and "big.png" in results[1].error


def test_a_16_bit_pil_image_reads_as_the_same_file_given_as_a_path(recognizer, tmp_path):
    gray16 = (np.arange(48 * 48, dtype=np.uint32).reshape(48, 48) * 28 % 65536).astype(np.uint16)
    path = tmp_path / "scan16.png"
    cv2.imwrite(str(path), gray16)
    pil = Image.open(path)
    assert pil.mode == "I;16"
    np.testing.assert_array_equal(to_bgr(pil), to_bgr(path))  # not clipped to 255 as .convert("RGB") did
    assert to_bgr(pil).max() > 200 and len(np.unique(to_bgr(pil))) > 100
    assert recognizer.predict(pil).faces[0].probabilities == recognizer.predict(path).faces[0].probabilities


@pytest.mark.parametrize("array", [np.zeros((8, 8), np.int32), np.zeros((8, 8), np.float32)])
def test_pil_modes_without_a_fixed_range_are_refused_naming_the_mode(recognizer, array):
    image = Image.fromarray(array)
    with pytest.raises(ImageReadError, match=f"mode '{image.mode}'"):
        recognizer.predict(image)


def test_a_bad_color_is_refused_for_every_kind_of_input(recognizer, face_png):
    gray = np.zeros((8, 8), np.uint8)
    for image in (gray, np.zeros((8, 8, 3), np.uint8), Image.fromarray(gray), face_png):
        with pytest.raises(ConfigError, match="color must be 'bgr' or 'rgb', got 'xyz'"):
            recognizer.predict(image, color="xyz")
    with pytest.raises(ConfigError, match="color"):
        recognizer.predict_many([gray], color="xyz", errors="record")  # refused once, not recorded per image


@pytest.mark.parametrize("width, height, shown", [(15000, 15000, "225000000 pixels"), (10000, 10000, "10000x10000 pixels"),
                                                   (7000, 7000, "7000x7000 pixels")])
def test_an_image_file_claiming_too_many_pixels_is_refused_before_it_is_decoded(recognizer, tmp_path, monkeypatch, width, height, shown):
    """A 218 kB PNG claiming 15000 x 15000 pixels took 6 GB and 45 s to decode, then found no face; serve refused it."""
    big = png_claiming(tmp_path / "big.png", width, height)
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("decoded an image over the limit"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor Pillow's own DecompressionBombWarning (over 89 Mpx) on the way
        with pytest.raises(ImageReadError) as raised:
            recognizer.predict(big)
    assert str(raised.value) == f"{big} is {shown}; the limit is 40000000 pixels per image (set FERKIT_MAX_IMAGE_PIXELS to raise it)"


def test_the_pixel_limit_of_files_is_set_by_an_environment_variable(recognizer, face_png, monkeypatch):
    monkeypatch.setenv("FERKIT_MAX_IMAGE_PIXELS", "1000")  # face.png is 48 x 48 = 2304 pixels
    with pytest.raises(ImageReadError, match=r"face.png is 48x48 pixels; the limit is 1000 pixels per image"):
        recognizer.predict(face_png)
    monkeypatch.setenv("FERKIT_MAX_IMAGE_PIXELS", "2304")
    assert recognizer.predict(face_png).width == 48
    monkeypatch.setenv("FERKIT_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ConfigError, match="FERKIT_MAX_IMAGE_PIXELS must be a whole number of pixels >= 1.*'lots'"):
        recognizer.predict(face_png)
    with pytest.raises(ConfigError, match="FERKIT_MAX_IMAGE_PIXELS"):  # once, at the call: not a failure of every image
        recognizer.predict_many([face_png], errors="record")


def test_an_image_over_the_limit_is_an_error_row_of_a_run_that_goes_on(recognizer, tmp_path, face_png):
    big = png_claiming(tmp_path / "big.png", 15000, 15000)
    results = list(recognizer.predict_many([big, face_png], errors="record"))
    assert [type(r) for r in results] == [FailedInput, ImagePrediction]
    assert results[0].error.startswith(f"{big} is 225000000 pixels; the limit is 40000000")


def test_an_animated_gif_is_read_as_its_first_frame_with_a_note(recognizer, tmp_path):
    frames = [Image.new("RGB", (48, 48), color) for color in ("white", "black")]
    animated, still = tmp_path / "anim.gif", tmp_path / "still.gif"
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(still)
    with pytest.warns(FerkitWarning, match="anim.gif has several frames.*only its first is read"):
        first = recognizer.predict(animated)
    assert first.faces[0].probabilities == recognizer.predict(frames[0]).faces[0].probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recognizer.predict(still)


# ------------------------------------------------------------------------------------------------ classify_crops


def test_classify_crops_takes_a_list_and_refuses_other_shapes_naming_the_expected_one(recognizer):
    rng = np.random.default_rng(0)
    crops = np.stack([class_pattern(i, rng) for i in range(3)])
    np.testing.assert_array_equal(recognizer.classify_crops(list(crops)), recognizer.classify_crops(crops))
    bad = [np.zeros((2, 0, 0), np.uint8), np.zeros((2, 48, 0), np.uint8), crops.astype(np.float32), crops[..., None], crops[0],
           [crops[0], crops[0, :40]]]
    for value in bad:
        with pytest.raises(ConfigError, match=r"\(N, H, W\) grayscale uint8"):
            recognizer.classify_crops(value)


def test_no_crops_give_zero_rows_of_every_class_on_both_backends(recognizer, torch_recognizer):
    for model in (recognizer, torch_recognizer):
        for no_crops in (np.zeros((0, 48, 48), np.uint8), [], ()):  # an empty list was "got (0,) float64"
            probs = model.classify_crops(no_crops)
            assert probs.shape == (0, len(model.class_names)) and probs.dtype.kind == "f"
    assert {recognizer.backend, torch_recognizer.backend} == {"onnx", "torch"}


# ------------------------------------------------------------------------------------------------ predict_many


def test_one_image_or_path_given_as_inputs_is_refused_at_the_call(recognizer, face_png):
    for single in (str(face_png), face_png, np.zeros((48, 48), np.uint8), np.zeros((48, 48, 3), np.uint8), Image.new("L", (48, 48)),
                   b"face.png"):
        with pytest.raises(ConfigError, match="wrap a single one in a list"):
            recognizer.predict_many(single, errors="record")
    assert len(list(recognizer.predict_many((p for p in [face_png]), errors="record"))) == 1  # a generator is fine
    stack = np.zeros((2, 48, 48), np.uint8)  # a stack of gray images and an array of paths are collections
    assert [r.source for r in recognizer.predict_many(stack)] == ["<input 0>", "<input 1>"]
    assert [r.source for r in recognizer.predict_many(np.array([str(face_png)]))] == [str(face_png)]


def test_predict_many_checks_each_argument_at_the_call_with_its_own_message(recognizer, face_png, clip):
    cases = {"every_n": (0, "every_n must be >= 1"), "max_frames": (0, "max_frames must be >= 1 or None"),
             "workers": (-1, "^workers must be >= 0, got -1$"), "batch_size": (0, "^batch_size must be >= 1, got 0$")}
    for name, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            recognizer.predict_many([face_png, clip], errors="record", **{name: value})
    with pytest.raises(ConfigError, match="every_n must be an int"):
        recognizer.predict_many([clip], every_n="5")


def test_no_face_message_names_the_detector_and_uses_python_syntax(tiny_checkpoint):
    haar = Recognizer(tiny_checkpoint, detector="haar", backend="torch")
    blank = np.full((120, 120, 3), 128, np.uint8)
    with pytest.raises(NoFaceError) as raised:
        haar.predict(blank, require_face=True)
    message = str(raised.value)
    assert "by the haar detector" in message and "detector='mtcnn'" in message and "detector='none'" in message
    assert "'haar'" not in message.split("by the haar detector")[1] and "--detector mtcnn," not in message
    recorded = list(haar.predict_many([blank], require_face=True, errors="record"))
    assert recorded == [FailedInput("<input 0>", message.replace("<array>", "<input 0>"))]


def test_no_face_suggests_a_larger_image_only_for_a_small_one(tiny_checkpoint):
    haar = Recognizer(tiny_checkpoint, detector="haar", backend="torch")
    with pytest.raises(NoFaceError, match=r"try a larger image \(this one is 120x90 pixels\), another detector"):
        haar.predict(np.full((90, 120, 3), 128, np.uint8), require_face=True)
    with pytest.raises(NoFaceError) as raised:
        haar.predict(np.full((400, 640, 3), 128, np.uint8), require_face=True)
    assert "larger image" not in str(raised.value) and "try another detector (detector='mtcnn'" in str(raised.value)
    recorded = list(haar.predict_many([np.full((400, 640, 3), 128, np.uint8)], require_face=True, errors="record"))
    assert "larger image" not in recorded[0].error


def test_an_onnx_model_with_the_torch_backend_is_refused(tiny_checkpoint, tmp_path):
    """It ran on ONNX Runtime silently."""
    from ferkit.artifacts import load_model
    from ferkit.export import export_model

    onnx = export_model(load_model(tiny_checkpoint), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=r"m.onnx is an ONNX model, which runs only in ONNX Runtime; pass backend='auto' or 'onnx'"):
        Recognizer(onnx, detector="none", backend="torch")
    assert Recognizer(onnx, detector="none", backend="auto").backend == "onnx"


# ------------------------------------------------------------------------------------------------ predict_video


@pytest.mark.parametrize("options, message", [
    ({"every_n": "5"}, "every_n must be an int"), ({"every_n": True}, "every_n must be an int"),
    ({"max_frames": 0}, "max_frames must be >= 1 or None"), ({"max_frames": 2.0}, "max_frames must be an int"),
    ({"look_back": "3"}, "look_back"), ({"detect_every": 1.5}, "detect_every"), ({"read_ahead": -1}, "read_ahead must be >= 0"),
    # smooth and detect_scale: TypeErrors from a comparison inside before; detect_scale was ignored without a detector
    ({"smooth": "0.5"}, r"smooth .* must be a number in \(0, 1\], got str '0.5'"), ({"smooth": True}, "smooth .* got bool True"),
    ({"smooth": 0}, r"smooth .* must lie in \(0, 1\], got 0"), ({"smooth": float("nan")}, "smooth .* got nan"),
    ({"detect_scale": "0.5"}, "detect_scale .* got str '0.5'"), ({"detect_scale": 2.0}, r"detect_scale .* must lie in \(0, 1\], got 2.0"),
    ({"timer": 5}, "timer must be a ferkit.timing.StageTimer"),
])
def test_predict_video_checks_its_arguments_at_the_call(recognizer, tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        recognizer.predict_video(tmp_path / "missing.avi", **options)  # no iteration needed, and before the file is looked for


def test_a_folder_as_annotated_path_is_refused_before_any_frame_and_left_as_it_was(recognizer, tmp_path, clip):
    folder = tmp_path / "some_folder"
    folder.mkdir()
    (folder / "kept.txt").write_text("mine")
    for overwrite in (True, False):
        with pytest.raises(OutputError, match="some_folder is a folder; give a file name for the annotated video"):
            recognizer.predict_video(clip, annotated_path=folder, overwrite=overwrite)
    with pytest.raises(OutputError, match="cannot write /proc/x.avi"):
        recognizer.predict_video(clip, annotated_path="/proc/x.avi")
    assert [p.name for p in folder.iterdir()] == ["kept.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "some_folder"]  # no temporary video left


def test_video_writer_refuses_a_folder_and_cleans_up_when_the_final_rename_fails(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        VideoWriter(tmp_path, fps=5.0, frame_size=(8, 8), overwrite=True)
    target = tmp_path / "out.avi"
    writer = VideoWriter(target, fps=5.0, frame_size=(8, 8))
    writer.write(np.zeros((8, 8, 3), np.uint8))
    target.mkdir()  # something took the name while frames were written
    (target / "x").write_text("someone else's")
    with pytest.raises(OutputError, match="cannot write .*out.avi"):
        writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"] and (target / "x").read_text() == "someone else's"


def test_an_unwritable_place_for_a_video_is_an_output_error_and_leaves_no_file():
    with pytest.raises(OutputError, match="cannot write /proc/x.avi"):  # mkstemp's FileNotFoundError before
        VideoWriter("/proc/x.avi", fps=5.0, frame_size=(8, 8))
