"""Dataset loaders (one module per family), splits and the decoded-array cache."""

from ferkit.data.ckplus import load_ckplus48
from ferkit.data.dataset import FaceDataset, concat_datasets
from ferkit.data.fer2013 import load_fer2013
from ferkit.data.imagefolder import load_image_folder
from ferkit.data.registry import ExperimentSplit, experiment_splits, load_split, parse_spec, register_dataset
from ferkit.data.splits import random_count_split, subject_kfold

__all__ = [
    "FaceDataset", "concat_datasets", "load_fer2013", "load_ckplus48", "load_image_folder", "ExperimentSplit",
    "experiment_splits", "load_split", "parse_spec", "register_dataset", "random_count_split", "subject_kfold",
]
