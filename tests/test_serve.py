"""The HTTP API through FastAPI's TestClient, on a tiny model the tests train (and the shipped model's metadata)."""

import io
import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'ferkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from ferkit.cli import main  # noqa: E402
from ferkit.errors import ConfigError  # noqa: E402
from ferkit.recognizer import ImagePrediction, Recognizer  # noqa: E402
from ferkit.serve import ServeSettings, create_app  # noqa: E402
from ferkit.serve.model_info import file_sha256, read_metadata  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ASTRONAUT = (EXAMPLES / "astronaut.jpg").read_bytes()


def gray_png(size: int = 200) -> bytes:
    return cv2.imencode(".png", np.full((size, size, 3), 128, np.uint8))[1].tobytes()



@pytest.fixture(scope="module")
def recognizer(tiny_checkpoint) -> Recognizer:
    return Recognizer(tiny_checkpoint, tta="none")


@pytest.fixture(scope="module")
def client(recognizer):
    with TestClient(create_app(recognizer, settings=ServeSettings(max_upload_bytes=2_000_000, max_pixels=4_000_000, max_batch_files=4))) as c:
        yield c


def test_a_photo_gives_its_face_in_the_rows_of_predict_json(client, tiny_checkpoint, tmp_path):
    response = client.post("/v1/predict", files={"file": ("astronaut.jpg", ASTRONAUT, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["file"], body["width"], body["height"], len(body["faces"])) == ("astronaut.jpg", 512, 512, 1)
    assert main(["predict", str(EXAMPLES / "astronaut.jpg"), "--model", str(tiny_checkpoint), "--tta", "none", "--json", str(tmp_path / "p.json")]) == 0
    cli = json.loads((tmp_path / "p.json").read_text())
    assert body["class_names"] == cli["class_names"] and body["model"] == Path(cli["model"]).name
    server_face, cli_face = body["faces"][0], cli["faces"][0]
    assert server_face.pop("file") == "astronaut.jpg" and Path(cli_face.pop("file")).name == "astronaut.jpg"
    assert server_face == cli_face  # same keys, same box, label and probabilities


def test_raw_body_upload_gives_the_same_answer_as_multipart(client):
    raw = client.post("/v1/predict", content=ASTRONAUT, headers={"Content-Type": "image/jpeg"})
    multipart = client.post("/v1/predict", files={"file": ("a.jpg", ASTRONAUT, "image/jpeg")})
    assert raw.status_code == 200 and raw.json()["faces"][0]["box"] == multipart.json()["faces"][0]["box"]
    assert raw.json()["file"] == "body"


def test_a_photo_without_a_face_gives_an_empty_list(client):
    response = client.post("/v1/predict", files={"file": ("gray.png", gray_png(), "image/png")})
    assert response.status_code == 200 and response.json()["faces"] == []


@pytest.mark.parametrize("data", [ASTRONAUT[:2000], b"\xff\xd8\xff\xe0 not really a jpeg", b"", bytes(range(256)) * 8])
def test_a_corrupt_file_is_a_422_json_error(client, data):
    response = client.post("/v1/predict", files={"file": ("broken.jpg", data, "image/jpeg")})
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "undecodable_image" and "broken.jpg" in response.json()["detail"]


def test_an_oversized_upload_is_a_413_json_error(recognizer):
    settings = ServeSettings(max_upload_bytes=len(ASTRONAUT) // 2, max_pixels=100_000)
    with TestClient(create_app(recognizer, settings=settings)) as small:
        declared = small.post("/v1/predict", content=ASTRONAUT, headers={"Content-Type": "image/jpeg"})
        streamed = small.post("/v1/predict", content=iter([ASTRONAUT[i:i + 4096] for i in range(0, len(ASTRONAUT), 4096)]),
                              headers={"Content-Type": "image/jpeg"})  # chunked: no Content-Length to check up front
        big_pixels = small.post("/v1/predict", files={"file": ("wide.png", gray_png(400), "image/png")})  # small file, 160,000 pixels
    for response in (declared, streamed, big_pixels):
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large", response.text
    assert "pixels" in big_pixels.json()["detail"]


def test_a_wrong_content_type_is_a_415_json_error(client):
    as_text = client.post("/v1/predict", content=ASTRONAUT, headers={"Content-Type": "text/plain"})
    no_type = client.post("/v1/predict", content=ASTRONAUT, headers={"Content-Type": ""})
    text_part = client.post("/v1/predict", files={"file": ("notes.txt", b"hello", "text/plain")})
    batch_as_json = client.post("/v1/predict/batch", json={"path": "/etc/passwd"})
    for response in (as_text, no_type, text_part, batch_as_json):
        assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type", response.text


def test_a_multipart_body_without_a_file_field_is_a_422(client):
    response = client.post("/v1/predict", data={"path": "/etc/passwd"}, files={"other": ("a.jpg", ASTRONAUT, "image/jpeg")})
    assert response.status_code == 422 and response.json()["code"] == "missing_upload"


def test_a_batch_answers_the_good_images_and_fails_the_bad_one_alone(client):
    files = [("files", ("astronaut.jpg", ASTRONAUT, "image/jpeg")), ("files", ("broken.jpg", ASTRONAUT[:1500], "image/jpeg")),
             ("files", ("gray.png", gray_png(), "image/png")), ("files", ("notes.txt", b"hi", "text/plain"))]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["index"], r["file"], r["status"]) for r in results] == [(0, "astronaut.jpg", 200), (1, "broken.jpg", 422), (2, "gray.png", 200), (3, "notes.txt", 415)]
    assert len(results[0]["faces"]) == 1 and results[2]["faces"] == [] and results[1]["error"]["code"] == "undecodable_image"
    single = client.post("/v1/predict", files={"file": ("astronaut.jpg", ASTRONAUT, "image/jpeg")}).json()
    assert results[0]["faces"] == single["faces"]


def test_a_batch_takes_file_parts_under_any_field_name_in_the_order_sent(client):
    """Form libraries name repeated file fields ``files[]`` or ``file``; docs/serve.md says every file part is taken."""
    files = [("files[]", ("a.png", gray_png(), "image/png")), ("file", ("b.png", gray_png(), "image/png")), ("files", ("c.png", gray_png(), "image/png"))]
    response = client.post("/v1/predict/batch", files=files, data={"note": "not a file"})
    assert response.status_code == 200, response.text
    assert [(r["index"], r["file"], r["status"]) for r in response.json()["results"]] == [(0, "a.png", 200), (1, "b.png", 200), (2, "c.png", 200)]


def test_a_batch_over_the_file_limit_is_refused(client):
    response = client.post("/v1/predict/batch", files=[("files", (f"{i}.png", gray_png(50), "image/png")) for i in range(5)])
    assert response.status_code == 400 and "files" in response.json()["detail"].lower() and response.json()["code"] == "bad_request"
    assert client.get("/v1/nothing-here").json()["code"] == "not_found"


def test_model_health_openapi_and_the_page(client, tiny_checkpoint):
    card = client.get("/v1/model").json()
    assert card["classes"] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    assert card["input"]["height"] == 48 and card["file"] == "best.pt" and str(tiny_checkpoint.parent) not in json.dumps(card)
    assert card["alignment"] == "box"
    assert card["detector"] == "auto" and card["detector_backend"] in ("mtcnn", "haar")  # what auto resolved to
    assert card["accuracy"] == [] and "no metadata file" in card["accuracy_note"] and card["version"]["sha256"] == file_sha256(tiny_checkpoint)
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"] and 'id="file-input"' in page.text
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_page_assets_load_nothing_from_other_hosts():
    static = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "serve" / "static"
    host_reference = re.compile(r"(https?:)?//[\w-]+(\.[\w-]+)+")  # http://x.org/..., //cdn.x.net/...
    for path in static.iterdir():
        assert host_reference.search(path.read_text()) is None, f"{path.name} refers to another host"


def test_shipped_metadata_describes_the_shipped_checkpoint():
    from ferkit.weights import default_model_path

    path = default_model_path()
    meta, why_not = read_metadata(path, file_sha256(path))
    assert why_not is None, why_not
    private = [a for a in meta["accuracy"] if a["split"] == "PrivateTest" and a.get("condition") == "clean"]
    assert {a["tta"] for a in private} == {"none", "flip"} and all(0.5 < a["accuracy"] < 1 for a in private)


def test_metadata_of_another_file_version_is_not_shown(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights v2")
    (tmp_path / "m.json").write_text(json.dumps({"sha256": "0" * 64, "accuracy": [{"accuracy": 0.9}]}))
    meta, why_not = read_metadata(model, file_sha256(model))
    assert meta is None and "another version" in why_not


class GatedRecognizer:
    """Blocks in predict until ``gate`` is set, to fill the pool or pass the time limit without sleeping."""

    class_names = ("happiness", "neutral")
    tta = "none"
    loaded = SimpleNamespace(path=Path("gated.pt"), model_name="gated", in_chans=1, image_size=48, recipe={})

    def __init__(self) -> None:
        self.entered, self.gate = threading.Event(), threading.Event()

    def predict(self, image, *, source):
        self.entered.set()
        self.gate.wait(30)
        return ImagePrediction(source, image.shape[1], image.shape[0], [])


def test_a_request_over_the_time_limit_is_a_504():
    gated = GatedRecognizer()
    with TestClient(create_app(gated, settings=ServeSettings(timeout_s=0.2))) as c:
        response = c.post("/v1/predict", content=gray_png(), headers={"Content-Type": "image/png"})
        gated.gate.set()
    assert response.status_code == 504 and response.json()["code"] == "timeout"


def test_a_burst_past_the_queue_gets_503_while_admitted_requests_finish():
    gated = GatedRecognizer()
    with TestClient(create_app(gated, settings=ServeSettings(workers=1, max_queue=0))) as c:
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(r=c.post("/v1/predict", content=gray_png(), headers={"Content-Type": "image/png"})))
        thread.start()
        assert gated.entered.wait(30)
        refused = c.post("/v1/predict", content=gray_png(), headers={"Content-Type": "image/png"})
        health = c.get("/healthz").json()  # the event loop still answers while the worker is busy
        gated.gate.set()
        thread.join(30)
    assert refused.status_code == 503 and refused.json()["code"] == "server_busy" and refused.headers["retry-after"] == "1"
    assert health["running_or_queued"] == 1 and first["r"].status_code == 200


def test_serve_command_builds_its_settings_and_names_the_extra_when_missing(monkeypatch, capsys):
    import ferkit.serve.run

    seen = []
    monkeypatch.setattr(ferkit.serve.run, "serve", lambda settings: seen.append(settings))
    assert main(["serve", "--port", "8123", "--max-upload-mb", "1", "--workers", "2", "--timeout", "5"]) == 0
    assert (seen[0].host, seen[0].port, seen[0].max_upload_bytes, seen[0].workers, seen[0].timeout_s) == ("127.0.0.1", 8123, 1024 * 1024, 2, 5.0)
    assert seen[0].alignment == "box" and main(["serve", "--alignment", "square"]) == 0 and seen[1].alignment == "square"
    with pytest.raises(ConfigError, match="alignment must be one of"):
        ServeSettings(alignment="eyes")
    assert main(["serve", "--workers", "0"]) == 2 and "workers must be >= 1" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "fastapi", None)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'ferkit[serve]'" in err and "fastapi" in err and "Traceback" not in err


def test_images_are_decoded_with_their_exif_orientation():
    """A phone photo stored sideways is analysed as the browser shows it (the page draws boxes on that)."""
    from PIL import Image

    from ferkit.serve.images import decode_image

    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (60, 30), "white").save(buffer, "JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), name="x.jpg", max_bytes=10**6, max_pixels=10**6).shape[:2] == (60, 30)


# --- bad input found by an audit of the API (each failed before its fix) --------------------------------------------

def png_header_only(width: int, height: int, row: bytes | None = None) -> bytes:
    """A PNG whose header claims ``width`` x ``height``; with ``row`` (one gray row) a whole valid 1-row image."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    data = zlib.compress(b"\0" + row) if row is not None else zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_very_wide_image_without_a_detector_is_answered_in_bounded_memory(tiny_checkpoint):
    """detector "none" framed the whole image as a square: a 1 kB 1,000,000 x 1 PNG asked OpenCV for a 10^12-pixel copy
    (500), and took a whole batch down with it."""
    whole = Recognizer(tiny_checkpoint, detector="none", tta="none")
    wide = png_header_only(1_000_000, 1, row=b"\x80" * 1_000_000)
    with TestClient(create_app(whole, settings=ServeSettings(detector="none"))) as c:
        single = c.post("/v1/predict", files={"file": ("wide.png", wide, "image/png")})
        batch = c.post("/v1/predict/batch", files=[("files", ("a.jpg", ASTRONAUT, "image/jpeg")), ("files", ("wide.png", wide, "image/png"))])
    assert single.status_code == 200, single.text
    assert single.json()["faces"][0]["box"] == [0, 0, 1_000_000, 1]
    assert [r["status"] for r in batch.json()["results"]] == [200, 200]


class FailingOnRecognizer(GatedRecognizer):
    """Raises an unexpected error (a bug) for one file name."""

    def predict(self, image, *, source):
        if source == "bug.png":
            raise RuntimeError("a bug")
        return ImagePrediction(source, image.shape[1], image.shape[0], [])


def test_a_bug_met_by_one_file_of_a_batch_fails_that_file_alone():
    with TestClient(create_app(FailingOnRecognizer(), settings=ServeSettings()), raise_server_exceptions=False) as c:
        response = c.post("/v1/predict/batch", files=[("files", (name, gray_png(60), "image/png")) for name in ("a.png", "bug.png", "c.png")])
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 500, 200]
    assert results[1]["error"] == {"detail": "internal error (RuntimeError); see the server's log", "code": "internal_error"}


def test_files_whose_size_cannot_be_read_first_or_that_ferkit_does_not_read_are_named(client):
    """A Radiance HDR file (Pillow cannot size it) was decoded in full before the pixel limit (a decompression bomb);
    a valid TGA was called corrupt."""
    from PIL import Image

    hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n" + b"\x80\x80\x80\x80" * 64
    response = client.post("/v1/predict", files={"file": ("x.hdr", hdr, "image/vnd.radiance")})
    assert response.status_code == 422 and "not in a format whose size can be checked before decoding" in response.json()["detail"]
    tga = io.BytesIO()
    Image.new("RGB", (64, 64)).save(tga, "TGA")
    response = client.post("/v1/predict", files={"file": ("x.tga", tga.getvalue(), "image/x-tga")})
    assert response.status_code == 422 and response.json()["detail"].startswith("x.tga is a TGA image, which ferkit does not read")


def test_a_decompression_bomb_is_refused_with_the_servers_own_limit(client):
    response = client.post("/v1/predict", files={"file": ("bomb.png", png_header_only(20000, 20000), "image/png")})
    assert response.status_code == 413
    assert response.json()["detail"] == "bomb.png is 400000000 pixels; the limit is 4000000 pixels per image"


def test_a_file_part_without_a_content_type_is_taken(client):
    """What requests.post(url, files={"file": open(path, "rb")}) sends; it got 415 before."""
    body = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n' + ASTRONAUT + b"\r\n--B--\r\n"
    response = client.post("/v1/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_query_parameters_are_refused_not_silently_ignored(client):
    for path in ("/v1/predict", "/v1/predict/batch"):
        response = client.post(f"{path}?tta=none&detector=mtcnn", files={"file": ("a.jpg", ASTRONAUT, "image/jpeg")})
        assert response.status_code == 422 and response.json()["code"] == "invalid_parameters"
        assert f"{path} takes no query parameters, got detector, tta" in response.json()["detail"]


def test_the_batch_path_with_a_trailing_slash_keeps_the_batch_size_limit(recognizer):
    settings = ServeSettings(max_upload_bytes=300_000, max_batch_files=4)
    files = [("files", (f"{i}.jpg", b"\xff\xd8" + b"\0" * 290_000, "image/jpeg")) for i in range(4)]  # over one image's limit
    with TestClient(create_app(recognizer, settings=settings)) as c:
        response = c.post("/v1/predict/batch/", files=files, follow_redirects=False)
    assert response.status_code == 307  # redirected to /v1/predict/batch like any small body, not refused with 413


def test_a_malformed_multipart_body_says_why(client):
    response = client.post("/v1/predict", files={"file": ("a" * 5000 + ".jpg", ASTRONAUT, "image/jpeg")})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid multipart data: Maximum header size exceeded", "code": "bad_request"}


def test_a_batch_past_its_time_limit_stops_after_the_file_in_progress():
    """The 504 was sent while the worker went on through every remaining file for no one."""
    import time

    class CountingGate(GatedRecognizer):
        calls = 0

        def predict(self, image, *, source):
            CountingGate.calls += 1
            return super().predict(image, source=source)

    gated = CountingGate()
    with TestClient(create_app(gated, settings=ServeSettings(timeout_s=0.2))) as c:
        response = c.post("/v1/predict/batch", files=[("files", (f"{i}.png", gray_png(60), "image/png")) for i in range(3)])
        gated.gate.set()
        for _ in range(200):  # the worker ends the file in progress, then sees the request was answered
            if c.get("/healthz").json()["running_or_queued"] == 0:
                break
            time.sleep(0.05)
    assert response.status_code == 504 and CountingGate.calls == 1


@pytest.mark.parametrize("flag, value, message", [("--max-upload-mb", "0", "--max-upload-mb must be > 0, got 0.0"),
                                                  ("--timeout", "0", "--timeout (seconds) must be > 0, got 0.0"),
                                                  ("--workers", "0", "--workers must be >= 1, got 0"),
                                                  ("--max-queue", "-1", "--max-queue must be >= 0, got -1"),
                                                  ("--port", "70000", "--port must lie in [0, 65535], got 70000")])
def test_serve_flags_are_refused_by_their_own_names(monkeypatch, capsys, flag, value, message):
    """--max-upload-mb 0 said "max_upload_bytes must be >= 1", --timeout 0 "timeout_s must be > 0"."""
    import ferkit.serve.run

    monkeypatch.setattr(ferkit.serve.run, "serve", lambda settings: pytest.fail("served with a bad flag"))
    assert main(["serve", flag, value]) == 2
    assert capsys.readouterr().err == f"ferkit serve: error: {message}\n"


def test_the_formats_named_in_415_and_422_answers_are_those_accepted(client):
    """GIF was accepted but not named in the list the answers give."""
    from PIL import Image

    gif = io.BytesIO()
    Image.new("RGB", (64, 64), "gray").save(gif, "GIF")
    assert client.post("/v1/predict", files={"file": ("a.gif", gif.getvalue(), "image/gif")}).status_code == 200
    refused = client.post("/v1/predict", content=ASTRONAUT, headers={"Content-Type": "text/plain"}).json()["detail"]
    undecodable = client.post("/v1/predict", files={"file": ("x.bin", bytes(range(256)) * 8, "image/png")}).json()["detail"]
    for detail in (refused, undecodable):
        assert "JPEG, PNG, WebP, BMP, TIFF, GIF, PPM/PGM/PBM, JPEG 2000, Sun raster or PFM" in detail, detail


def test_the_servers_pixel_limit_follows_ferkit_max_image_pixels_as_file_reads_do(monkeypatch):
    from ferkit.constants import DEFAULT_MAX_IMAGE_PIXELS

    monkeypatch.delenv("FERKIT_MAX_IMAGE_PIXELS", raising=False)
    assert ServeSettings().max_pixels == DEFAULT_MAX_IMAGE_PIXELS
    monkeypatch.setenv("FERKIT_MAX_IMAGE_PIXELS", "90000000")
    assert ServeSettings().max_pixels == 90_000_000 and ServeSettings(max_pixels=5).max_pixels == 5  # the keyword still wins
