"""cnnkit.data: dataset registry, loading and caching, splits, resolution, augmentation, statistics."""

from cnnkit.data.augment import AugmentConfig, augment_batch, augment_image
from cnnkit.data.custom_dataset import save_custom_dataset
from cnnkit.data.normalise import Normaliser
from cnnkit.data.registry import dataset_info, list_datasets, load_dataset, validate_dataset_name
from cnnkit.data.resolution import RESIZE_MODES, resize_batch, transform_resolution
from cnnkit.data.shapes import SHAPE_CLASSES, generate_shapes
from cnnkit.data.splits import kfold_indices, split_indices, stratified_subset, subset_of_test_split
from cnnkit.data.stats import channel_stats
from cnnkit.data.types import DatasetInfo, LoadedDataset
from cnnkit.data.zip_import import import_zip
from cnnkit.data import student_data as _student_data  # noqa: F401,E402  registers "datasets" as student data

__all__ = [
    "AugmentConfig", "DatasetInfo", "LoadedDataset", "Normaliser", "RESIZE_MODES", "SHAPE_CLASSES",
    "augment_batch", "augment_image", "channel_stats", "dataset_info", "generate_shapes",
    "import_zip", "kfold_indices", "list_datasets", "load_dataset", "resize_batch", "save_custom_dataset",
    "split_indices", "stratified_subset", "subset_of_test_split", "transform_resolution", "validate_dataset_name",
]
