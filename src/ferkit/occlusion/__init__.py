"""Synthetic occlusion: drawn occluders, region/ratio-controlled placement, occluded datasets (paper 003)."""

from ferkit.occlusion.builder import OcclusionInfo, RandomOcclusion, occlude_dataset
from ferkit.occlusion.erasing import erase_dataset
from ferkit.occlusion.custom import load_occluder_folder, load_occluder_png
from ferkit.occlusion.gallery import save_occluder_gallery, synthetic_face
from ferkit.occlusion.occluders import OCCLUDER_KINDS, draw_occluder
from ferkit.occlusion.placement import CANONICAL_LANDMARKS, REGIONS, Occlusion, OcclusionRatioError, apply_occlusion, occlude

__all__ = [
    "erase_dataset",
    "OCCLUDER_KINDS", "REGIONS", "CANONICAL_LANDMARKS", "Occlusion", "OcclusionInfo", "OcclusionRatioError", "RandomOcclusion",
    "apply_occlusion", "draw_occluder", "load_occluder_folder", "load_occluder_png", "occlude", "occlude_dataset",
    "save_occluder_gallery", "synthetic_face",
]
