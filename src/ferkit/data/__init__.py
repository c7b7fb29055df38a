"""Dataset loaders (one module per family), splits and the decoded-array cache."""

from ferkit.data.ckplus import load_ckplus48
from ferkit.data.dataset import FaceDataset, concat_datasets
from ferkit.data.fer2013 import load_fer2013
from ferkit.data.imagefolder import load_image_folder
from ferkit.data.registry import ExperimentSplit, experiment_splits, load_split, parse_spec, register_dataset
from ferkit.data.splits import random_count_split, subject_kfold

# Batch builders register themselves on import.
import ferkit.data.triplet_batches  # noqa: E402,F401  (triplet: papers 000/001)
import ferkit.data.pk_batches  # noqa: E402,F401  (pk: P x K batches for online mining, paper 002)
import ferkit.data.pair_batches  # noqa: E402,F401  (pairs: Siamese reference/sample pairs, paper 003)

__all__ = [
    "FaceDataset", "concat_datasets", "load_fer2013", "load_ckplus48", "load_image_folder", "ExperimentSplit",
    "experiment_splits", "load_split", "parse_spec", "register_dataset", "random_count_split", "subject_kfold",
]
