"""cnnkit.train: TrainConfig and train() (tensor pipeline, schedules, checkpoints, evaluation)."""

from cnnkit.train.config import LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULERS, TrainConfig, learning_settings
from cnnkit.train.loop import TrainingDiverged, TrainResult, resume, train

__all__ = ["LOSSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULERS",
           "TrainConfig", "TrainResult", "TrainingDiverged",
           "learning_settings", "resume", "train"]
