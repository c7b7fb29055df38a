"""Vocabularies that modules at several layers share, kept here so their copies cannot drift apart.

Torch-free and cv2-free on purpose: the CLI imports them to build its argument choices.
"""

from __future__ import annotations

# Files ferkit reads as single images (folder datasets, bulk inference, occluder galleries).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".gif")  # GIF: the first frame

# The most pixels an image may claim in its header before ferkit refuses to decode it (``ferkit.data.image_io``): a
# 218 kB PNG claiming 15000 x 15000 pixels took 6 GB and 45 s to decode. Files read by the CLI and the Python API
# and ``ferkit serve`` (``ServeSettings.max_pixels``, read when it starts) take FERKIT_MAX_IMAGE_PIXELS from the
# environment instead when it is set.
DEFAULT_MAX_IMAGE_PIXELS: int = 40_000_000

# Files ferkit decodes as videos (bulk inference and the ``videos`` dataset family): the containers
# OpenCV's FFmpeg backend opens.
VIDEO_SUFFIXES: tuple[str, ...] = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".wmv", ".m4v", ".mpg", ".mpeg")

# The channel orders an image array may come in (Recognizer ``color``, ``ferkit.bulk.predict_stream``).
COLORS: tuple[str, ...] = ("bgr", "rgb")

# Test-time augmentation: ``none``; ``flip`` (average with the mirror image); ``tencrop`` (corner and
# centre crops plus their mirrors, see ``ferkit.evaluate.predict``).
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
# The modes that need only the face and its mirror: what embedding pipelines and the ONNX backend support.
MIRROR_TTA_MODES: tuple[str, ...] = ("none", "flip")

# Training faces that calibrate an int8 ONNX graph (``ferkit export --int8``, ``ferkit.quantize``).
DEFAULT_CALIBRATION_SIZE: int = 512

# How a detected face becomes the model's input (Recognizer ``alignment``, ``ferkit predict --alignment``): "box" cuts
# the square where FER2013's crops lie relative to that detector's box (``ferkit.faces.framing``, measured on FER2013
# training faces); "square" a square of the box's longer side around its centre; "landmarks" warps the five landmarks
# onto a template (paper 003's alignment). On the benchmark video, square crops of MTCNN's boxes classified 66% of the
# clean faces right against 57% with landmark alignment (docs/realtime.md).
ALIGNMENTS: tuple[str, ...] = ("box", "square", "landmarks")
DEFAULT_ALIGNMENT: str = "box"

# Sampled frames a video *file*'s results are held back (``Recognizer.predict_video(look_back=)``, ``ferkit predict
# --look-back``) so that a face the detector finds late is followed back into them (``ferkit.tracking.LookBack``). A
# live camera answers at once (0). Chosen by benchmarks/realtime.py (docs/realtime.md).
DEFAULT_LOOK_BACK: int = 9
