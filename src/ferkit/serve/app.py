"""The FastAPI application: routes, error answers and the page. The model runs only in the worker pool."""

from __future__ import annotations

import functools
import logging
import threading
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferkit.errors import FerkitError
from ferkit.serve.errors import (InvalidParameters, MissingUpload, PayloadTooLarge, RequestError, RequestTimeout, UndecodableImage,
                                 UnsupportedMediaType)
from ferkit.serve.images import check_image_type, client_name, decode_image, media_type
from ferkit.serve.limits import BodySizeLimit
from ferkit.serve.model_info import model_card
from ferkit.serve.pool import WorkerPool
from ferkit.serve.schemas import BatchItem, BatchResponse, ErrorBody, Health, ModelCard, PredictResponse
from ferkit.serve.settings import ServeSettings

LOG = logging.getLogger("ferkit.serve")
STATIC_PACKAGE = ("ferkit.serve", "static")
# the page may load nothing from elsewhere: it must work offline, and a CDN would see the user's photos' traffic
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what} for status, what in (
        (400, "malformed multipart body"), (413, "upload over the size limit"), (415, "not an image content type"),
        (422, "corrupt image, no file field, or query parameters"), (503, "queue full: retry shortly"), (504, "over the time limit"))}
IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


def load_recognizer(settings: ServeSettings) -> Any:
    from ferkit.recognizer import Recognizer

    options = {**(settings.detector_options or {}), **({"model_path": settings.detector_model} if settings.detector_model else {})} or None
    return Recognizer(settings.model, detector=settings.detector, largest_only=settings.largest_only, tta=settings.tta,
                      device=settings.device, detector_options=options, alignment=settings.alignment)


def create_app(recognizer: Any = None, *, settings: ServeSettings) -> FastAPI:
    """The application serving ``recognizer`` (loaded from ``settings`` when None), shared by every request."""
    from ferkit import __version__

    recognizer = recognizer if recognizer is not None else load_recognizer(settings)
    pool = WorkerPool(settings.workers, settings.max_queue)
    model_file = recognizer.loaded.path.name

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown()

    app = FastAPI(title="ferkit", version=__version__, lifespan=lifespan,
                  description="Facial expressions of the faces in an image. One shared model, bounded worker pool, JSON errors.")
    app.add_middleware(BodySizeLimit, limit_for=lambda path: settings.max_request_bytes if path.rstrip("/").endswith("/batch")
                       else settings.max_upload_bytes + 64 * 1024)
    _add_error_handlers(app)
    card = model_card(recognizer, detector=settings.detector)  # read once: it hashes the model file

    def predict_bytes(data: bytes, name: str) -> Any:
        image = decode_image(data, name=name, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
        return recognizer.predict(image, source=name)

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY, tags=["predict"])
    async def predict(request: Request) -> dict[str, Any]:
        """One image, as a multipart field `file` or as the raw body with an image content type."""
        _refuse_query(request)
        name, data = await _single_upload(request)
        result = await pool.run(lambda: predict_bytes(data, name), timeout_s=settings.timeout_s)
        return {"model": model_file, "class_names": list(recognizer.class_names), "file": name, "width": result.width,
                "height": result.height, "faces": result.to_rows(), "errors": []}

    @app.post("/v1/predict/batch", response_model=BatchResponse, responses=ERROR_RESPONSES, openapi_extra=BATCH_BODY, tags=["predict"])
    async def predict_batch(request: Request) -> dict[str, Any]:
        """Several images as multipart fields `files`; each is answered alone, so one bad file fails only itself."""
        _refuse_query(request)
        uploads = await _batch_uploads(request, settings.max_batch_files)
        answered = threading.Event()  # set when the client got its 504: the files left would be computed for no one
        try:
            results = await pool.run(functools.partial(_answer_batch, uploads, predict_bytes, answered), timeout_s=settings.timeout_s)
        except RequestTimeout:
            answered.set()
            raise
        return {"model": model_file, "class_names": list(recognizer.class_names), "results": results}

    @app.get("/v1/model", response_model=ModelCard, tags=["model"])
    async def model() -> dict[str, Any]:
        """The model card facts: name, classes, input, accuracy figures (with their sources), version."""
        return card

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": model_file, "running_or_queued": pool.admitted, "capacity": pool.capacity}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        from importlib.resources import files

        return FileResponse(str(files("ferkit.serve") / "static" / "index.html"), headers={"Content-Security-Policy": PAGE_POLICY})

    app.mount("/static", StaticFiles(packages=[STATIC_PACKAGE]), name="static")
    return app


def _refuse_query(request: Request) -> None:
    """The predict routes take no query parameters: ``?tta=none`` or ``?detector=mtcnn`` silently answered with the
    server's own settings would look like it worked. Those are chosen when the server starts (``ferkit serve``)."""
    if request.query_params:
        names = ", ".join(sorted(set(request.query_params.keys())))
        raise InvalidParameters(f"{request.url.path} takes no query parameters, got {names}; the model, detector and TTA "
                                "are chosen when the server starts (ferkit serve --help)")


async def _single_upload(request: Request) -> tuple[str, bytes]:
    """(name, bytes) of the one image in a multipart field ``file`` or in the raw body."""
    if media_type(request.headers.get("content-type")) == "multipart/form-data":
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise MissingUpload("the multipart body has no file field named 'file'; send the image as -F file=@photo.jpg")
            check_image_type(upload.content_type, f"file field 'file' ({upload.filename})", part=True)
            return client_name(upload.filename, "upload"), await upload.read()
    check_image_type(request.headers.get("content-type"), "the request body")
    return "body", await request.body()


async def _batch_uploads(request: Request, max_files: int) -> list[tuple[str, bytes, RequestError | None]]:
    """Every file field of a multipart body: (name, bytes, the content-type problem or None)."""
    if media_type(request.headers.get("content-type")) != "multipart/form-data":
        raise UnsupportedMediaType("a batch is a multipart/form-data body with one field 'files' per image")
    async with request.form(max_files=max_files, max_fields=max_files + 8) as form:
        uploads = []
        for index, (_, value) in enumerate(item for item in form.multi_items() if isinstance(item[1], UploadFile)):
            name = client_name(value.filename, f"file{index}")
            try:
                check_image_type(value.content_type, f"file {index} ({name})", part=True)
                problem = None
            except UnsupportedMediaType as exc:
                problem = exc
            uploads.append((name, await value.read(), problem))
    if not uploads:
        raise MissingUpload("the batch has no files; send each image as a multipart field 'files'")
    return uploads


def _answer_batch(uploads: list[tuple[str, bytes, RequestError | None]], predict_bytes: Callable[[bytes, str], Any],
                  answered: threading.Event) -> list[dict[str, Any]]:
    """Each file's answer in order (on a worker), stopping once the request was ``answered`` (504)."""
    results = []
    for index, (name, data, problem) in enumerate(uploads):
        if answered.is_set():
            break
        results.append(_batch_item(index, name, functools.partial(predict_bytes, data, name), problem))
    return results


def _batch_item(index: int, name: str, predict: Callable[[], Any], problem: RequestError | None) -> dict[str, Any]:
    """One file's answer: its faces, or the error that file alone would have got."""
    try:
        if problem is not None:
            raise problem
        result = predict()
    except RequestError as exc:
        return {"index": index, "file": name, "status": exc.status, "error": {"detail": str(exc), "code": exc.code}}
    except FerkitError as exc:
        return {"index": index, "file": name, "status": UndecodableImage.status, "error": {"detail": str(exc), "code": "invalid_image"}}
    except Exception as exc:  # noqa: BLE001 - a bug met by one file must not lose the other files' answers
        LOG.exception("batch item %d (%s) failed", index, name)
        return {"index": index, "file": name, "status": 500, "error": {"detail": f"internal error ({type(exc).__name__}); see the server's log",
                                                                       "code": "internal_error"}}
    return BatchItem(index=index, file=name, status=200, width=result.width, height=result.height, faces=result.to_rows()).model_dump()


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure is JSON ``{"detail", "code"}``: request errors with their status, other bad input 422, bugs 500."""

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        if isinstance(exc, PayloadTooLarge):
            headers = {"Connection": "close"}  # the rest of the body is not read
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:  # 400 multipart, 404, 405
        return JSONResponse({"detail": _with_cause(str(exc.detail), exc), "code": HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(FerkitError)
    async def bad_input(_: Request, exc: FerkitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": "invalid_input"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        LOG.error("request failed", exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server's log", "code": "internal_error"}, status_code=500)


def _with_cause(detail: str, exc: BaseException) -> str:
    """``detail`` with the innermost cause's message added: Starlette answers every multipart parse failure with
    "Invalid multipart data.", which hides e.g. "Maximum header size exceeded" (a file name of several kB)."""
    inner, seen = exc, 0
    while (inner.__cause__ or inner.__context__) is not None and seen < 8:
        inner, seen = inner.__cause__ or inner.__context__, seen + 1
    cause = str(inner)
    return f"{detail.rstrip('.')}: {cause}" if inner is not exc and cause and cause not in detail else detail
