"""Test-set evaluation: accuracy, per-class and macro precision/recall/F1 (scikit-learn), confusion
matrix, one-vs-rest ROC curves with AUC, top-k accuracy and the most confident mistakes."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn


@dataclass
class EvalResult:
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: list[dict]           # {class, precision, recall, f1, support, accuracy}
    confusion: list[list[int]]      # rows: true class, columns: predicted class
    roc: list[dict]                 # {class, auc, fpr, tpr} (curves thinned to at most 101 points)
    top_k: dict[str, float]         # {"top1": .., "top3": .., "top5": ..} for k below the class count
    mistakes: list[dict]            # {index, true, predicted, confidence}, most confident first
    num_test: int
    classes: list[str]
    loss: Optional[float] = None
    resolution: Optional[int] = None

    def to_dict(self) -> dict:
        return asdict(self)


def autocast_context(device: torch.device, dtype: Optional[torch.dtype]):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# Images per evaluation batch: 500 at 32×32 px, fewer for larger images (the same number of pixels, at least
# 16): 500 images of 96 px through EfficientNet-Lite0 were about 3× slower per image than 64 on a CPU (the
# activations no longer fit the caches), and 500 of 224 px would hold gigabytes of activations.
EVAL_PIXELS = 500 * 32 * 32


def eval_batch_size(height: int, width: int, limit: int = 500) -> int:
    return max(16, min(limit, EVAL_PIXELS // max(1, int(height) * int(width))))


@torch.no_grad()
def predict(model: nn.Module, x_uint8: torch.Tensor, normalise: Callable[[torch.Tensor], torch.Tensor],
            batch_size: int = 500, autocast_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Softmax probabilities (N, K) on the CPU, float32; the model is put in eval mode. Batches of at most
    batch_size images, fewer for large images (eval_batch_size)."""
    model.eval()
    device = x_uint8.device
    if x_uint8.dim() == 4:
        batch_size = eval_batch_size(x_uint8.shape[-2], x_uint8.shape[-1], batch_size)
    outputs = []
    for start in range(0, len(x_uint8), batch_size):
        with autocast_context(device, autocast_dtype):
            logits = model(normalise(x_uint8[start:start + batch_size]))
        outputs.append(logits.float().softmax(dim=1).cpu())
    if not outputs:
        return torch.zeros(0, 0)
    return torch.cat(outputs)


def _thin(values: np.ndarray, keep: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values[keep]]


def roc_curves(probs: np.ndarray, y: np.ndarray, classes: list[str], max_points: int = 101) -> list[dict]:
    from sklearn.metrics import roc_auc_score, roc_curve

    curves = []
    for k, name in enumerate(classes):
        positive = (y == k)
        if positive.all() or not positive.any():
            curves.append({"class": name, "auc": None, "fpr": [], "tpr": []})
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).round().astype(int))
        curves.append({"class": name, "auc": float(roc_auc_score(positive, probs[:, k])),
                       "fpr": _thin(fpr, keep), "tpr": _thin(tpr, keep)})
    return curves


def metrics_from_probs(probs: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, classes: list[str],
                       max_mistakes: int = 24, resolution: Optional[int] = None,
                       loss: Optional[float] = None) -> EvalResult:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    labels = list(range(len(classes)))
    if len(y) == 0:
        raise ValueError("the test split is empty; nothing to evaluate")
    pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)
    confusion = confusion_matrix(y, pred, labels=labels)
    per_class = [{"class": name, "precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                  "support": int(support[k]), "accuracy": float(recall[k])}  # per-class accuracy is recall
                 for k, name in enumerate(classes)]
    ranked = np.argsort(-probs, axis=1)
    top_k = {f"top{k}": float((ranked[:, :k] == y[:, None]).any(axis=1).mean())
             for k in (1, 3, 5) if k == 1 or k < len(classes)}
    wrong = np.flatnonzero(pred != y)
    confidence = probs[np.arange(len(y)), pred]
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:max_mistakes]
    mistakes = [{"index": int(i), "true": classes[y[i]], "predicted": classes[pred[i]],
                 "true_index": int(y[i]), "predicted_index": int(pred[i]), "confidence": float(confidence[i])}
                for i in worst]
    return EvalResult(
        accuracy=float((pred == y).mean()), macro_precision=float(macro[0]), macro_recall=float(macro[1]),
        macro_f1=float(macro[2]), per_class=per_class, confusion=confusion.tolist(),
        roc=roc_curves(probs, y, classes), top_k=top_k, mistakes=mistakes, num_test=int(len(y)),
        classes=list(classes), loss=loss, resolution=resolution)


def evaluate_model(model: nn.Module, x_uint8: torch.Tensor, y: torch.Tensor, classes: list[str],
                   normalise: Callable[[torch.Tensor], torch.Tensor], autocast_dtype: Optional[torch.dtype] = None,
                   resolution: Optional[int] = None, flip_tta: bool = False) -> tuple[EvalResult, dict]:
    """(EvalResult, predictions) where predictions = {y_true, y_pred, confidence} per test image;
    flip_tta averages each image's prediction with its mirror image's (predict_with_flip_tta)."""
    probs = (predict_with_flip_tta if flip_tta else predict)(model, x_uint8, normalise, autocast_dtype=autocast_dtype)
    y_cpu = y.cpu()
    loss = float(torch.nn.functional.nll_loss(probs.clamp_min(1e-12).log(), y_cpu)) if len(y_cpu) else None
    result = metrics_from_probs(probs.numpy(), y_cpu.numpy(), classes, resolution=resolution, loss=loss)
    pred = probs.argmax(dim=1)
    predictions = {"y_true": y_cpu.tolist(), "y_pred": pred.tolist(),
                   "confidence": [round(float(c), 4) for c in probs.max(dim=1).values]}
    return result, predictions


def evaluate_run(run_dir, dataset: Optional[str] = None, resolution: Optional[int] = None, mode: str = "area",
                 restore: bool = True, which: str = "best", device: str = "cpu",
                 progress: Optional[Callable[[float, str], None]] = None,
                 test_subset: int = 0) -> tuple[EvalResult, dict]:
    """Evaluate a saved run on the test split of its dataset (or another with the same classes),
    optionally at a lower resolution (downsampled with `mode`, resampled back up when `restore`).
    `test_subset`: only that many test images, the stratified subset training scores on (TrainConfig.test_subset)."""
    from cnnkit.data import load_dataset
    from cnnkit.device import resolve_device
    from cnnkit.store import load_run_model
    from cnnkit.data import Normaliser, transform_resolution

    torch_device = resolve_device(device)
    loaded = load_run_model(run_dir, which=which, device=torch_device)
    name = dataset or loaded.dataset
    data = load_dataset(name, progress=progress)
    if len(data.classes) != len(loaded.classes):
        raise ValueError(f"{name} has {len(data.classes)} classes but the run was trained on {len(loaded.classes)} "
                         f"({loaded.dataset}); choose a dataset with the same classes")
    channels, size, _ = loaded.input_shape
    if data.test_x.shape[1] != channels:
        raise ValueError(f"{name} has {data.test_x.shape[1]}-channel images but the run takes {channels}; "
                         "choose a dataset with the same colour mode")
    test_x, test_y = data.test_x, data.test_y
    if test_subset and test_subset < len(test_y):
        from cnnkit.data import subset_of_test_split

        index = subset_of_test_split(test_y, test_subset)
        test_x, test_y = test_x[index], test_y[index]
    x = transform_resolution(test_x, size, resolution, mode, restore).to(torch_device)
    normalise = Normaliser(loaded.mean, loaded.std, torch_device)
    return evaluate_model(loaded.model, x, test_y.to(torch_device), list(data.classes), normalise,
                          resolution=resolution)


@torch.no_grad()
def predict_with_flip_tta(model: nn.Module, x_uint8: torch.Tensor, normalise: Callable[[torch.Tensor], torch.Tensor],
                          batch_size: int = 500, autocast_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Test-time augmentation: the mean of the softmax on each image and on its mirror image (N, K), CPU float32.

    Worth about +0.5 points on CIFAR-10 for free (airbench); only for data whose classes survive a
    left-right flip (not digits or text). Same contract as predict()."""
    plain = predict(model, x_uint8, normalise, batch_size, autocast_dtype)
    mirrored = predict(model, x_uint8.flip(-1), normalise, batch_size, autocast_dtype)
    return (plain + mirrored) / 2 if len(plain) else plain
