"""cnnkit.train: TrainConfig and train() (tensor pipeline, schedules, checkpoints, evaluation)."""

from cnnkit.train.bundle import BUILDERS, REBUILDERS, ModelBundle, build_bundle, rebuild_model
from cnnkit.train.config import LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULERS, TrainConfig
from cnnkit.train.loop import TrainingDiverged, TrainResult, count_params, resume, train

__all__ = ["BUILDERS", "LOSSES", "ModelBundle", "OPTIMIZERS", "PRECISIONS", "REBUILDERS", "SCHEDULERS",
           "TrainConfig", "TrainResult", "TrainingDiverged", "build_bundle", "count_params", "rebuild_model",
           "resume", "train"]
