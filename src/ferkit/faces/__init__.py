"""Face detection (one module per backend) and alignment to the crops the models take.

``build_detector("haar" | "mtcnn" | "yunet" | "mediapipe", **options).detect(image) -> list[Face]``, then
``align_face(image, face, output_size=48)``.
"""

from ferkit.faces import haar, mediapipe, mtcnn, yunet  # noqa: F401  (registers the backends)
from ferkit.faces.align import CANONICAL_TEMPLATE_48, align_face, five_point_template, similarity_to_template
from ferkit.faces.base import (
    DETECTOR_REGISTRY,
    LANDMARK_NAMES,
    Face,
    FaceDetector,
    build_detector,
    list_detectors,
    parse_detector_options,
    register_detector,
)
from ferkit.faces.haar import HaarDetector
from ferkit.faces.mediapipe import MediaPipeDetector, MediaPipeUnavailableError, mediapipe_available
from ferkit.faces.mtcnn import DEFAULT_DETECTOR, MTCNNDetector, mtcnn_available
from ferkit.faces.scaled import ScaledDetector, rescale_face
from ferkit.faces.yunet import YUNET_FILENAME, YuNetDetector, cache_dir

__all__ = [
    "CANONICAL_TEMPLATE_48", "DEFAULT_DETECTOR", "DETECTOR_REGISTRY", "LANDMARK_NAMES", "YUNET_FILENAME", "Face", "FaceDetector",
    "HaarDetector", "MTCNNDetector", "MediaPipeDetector", "MediaPipeUnavailableError", "ScaledDetector", "YuNetDetector", "align_face", "build_detector", "cache_dir", "five_point_template",
    "list_detectors", "mediapipe_available", "mtcnn_available", "parse_detector_options", "register_detector", "rescale_face", "similarity_to_template",
]
