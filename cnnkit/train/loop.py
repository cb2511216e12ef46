"""train(config): one run from dataset to saved, evaluated checkpoint.

Progress goes out as small event dicts (on_progress) so a job manager, a CLI or a test can follow
it without sharing state with the loop:
  {"kind": "status", "phase", "message", "fraction"}       loading, preparing, evaluating, ...
  {"kind": "run_dir", "run_dir"}                          once the run folder exists
  {"kind": "step", "epoch", "step", "epoch_step", "steps_per_epoch", "loss", "lr", "images_per_s", "eta_s"}
  {"kind": "epoch", "row": {...}}                         one per finished epoch (see EpochRow)
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

from cnnkit import store
from cnnkit.data import AugmentConfig, Normaliser, load_dataset
from cnnkit.device import resolve_device
from cnnkit.evaluate import autocast_context, evaluate_model, predict
from cnnkit.models import ModelBundle, build_bundle, count_params
from cnnkit.train.config import TrainConfig
from cnnkit.train.optim import LRSchedule, build_optimizer, l1_penalty, loss_function, weight_parameters
from cnnkit.train.pipeline import PreparedData, augment, batches, prepare_data

ProgressCallback = Callable[[dict], None]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message says what to change."""


class TrainingCancelled(Exception):
    pass


@dataclass
class TrainResult:
    run_id: str
    run_dir: str
    status: str                    # done | cancelled | early_stopped
    dataset: str
    model: str
    device: str
    epochs: int                    # epochs completed
    seconds: float
    train_img_per_s: float
    test_acc: Optional[float]
    macro_f1: Optional[float]
    per_class: list[dict]
    best_val_acc: Optional[float]
    trainable_params: int
    frozen_params: int
    history: list[dict] = field(default_factory=list)
    results: Optional[dict] = None
    message: str = ""

    def summary(self) -> dict:
        """The CLI's JSON line: everything but the bulky history and full results."""
        data = asdict(self)
        data.pop("history")
        results = data.pop("results") or {}
        for key in ("macro_precision", "macro_recall", "top_k"):
            if key in results:
                data[key] = results[key]
        return data


def autocast_dtype_for(precision: str, device: torch.device) -> Optional[torch.dtype]:
    if device.type != "cuda":
        if precision in ("bf16",):
            return torch.bfloat16
        return None  # fp32 on CPU: autocast there is slower for convs on most CPUs
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class _Emitter:
    def __init__(self, callback: Optional[ProgressCallback]):
        self.callback = callback

    def __call__(self, kind: str, **data: Any) -> None:
        if self.callback is not None:
            self.callback({"kind": kind, **data})


def _check_cancel(cancel_event: Optional[threading.Event]) -> None:
    if cancel_event is not None and cancel_event.is_set():
        raise TrainingCancelled()


def _diverged_message(config: TrainConfig, epoch: int, step: int, value: float) -> str:
    what = "NaN" if math.isnan(value) else "infinite"
    hint = f"lower the learning rate (now {config.lr:g})"
    if config.loss != "cross_entropy":
        hint += " or use cross-entropy"
    if config.optimizer == "sgd" and config.momentum > 0.95:
        hint += " or lower the momentum"
    return f"loss became {what} at epoch {epoch + 1}, step {step}; {hint}"


def _image_size(config: TrainConfig, dataset) -> int:
    return int(config.image_size or dataset.train_x.shape[-1])


def _network_shape(prepared_channels: int, size: int) -> tuple[int, int, int]:
    return (prepared_channels, size, size)


def train(config: TrainConfig, on_progress: Optional[ProgressCallback] = None,
          cancel_event: Optional[threading.Event] = None, resume_from: Optional[str | Path] = None,
          checkpoint_root: Optional[Path] = None) -> TrainResult:
    """Train, save and evaluate one run. resume_from: an interrupted/cancelled run folder to go on with.

    Raises ValueError (bad settings, unavailable data, diverged loss) with a message saying what to change.
    A cancelled run returns with status "cancelled" and keeps what was trained."""
    config.validate()
    emit = _Emitter(on_progress)
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    amp_dtype = autocast_dtype_for(config.precision, device)

    emit("status", phase="loading", message=f"loading {config.dataset}", fraction=0.0)
    dataset = load_dataset(config.dataset, progress=lambda f, m: emit("status", phase="loading", message=m, fraction=f))
    _check_cancel(cancel_event)
    size = _image_size(config, dataset)
    channels = int(dataset.train_x.shape[1])
    bundle = build_bundle(config.model, (channels, size, size), len(dataset.classes), config,
                          image_size_given=config.image_size is not None)
    size = bundle.input_shape[1]  # a preset may insist on its own size (cnn4_gap: 64)
    emit("status", phase="preparing", message="preparing tensors", fraction=None)
    prepared = prepare_data(config, dataset, device, size, bundle.normalisation)
    if not config.restore_size and config.train_resolution:
        # the network sees the small images directly (global-pooling networks)
        prepared.input_shape = (channels, config.train_resolution, config.train_resolution)
    notes = bundle.notes + prepared.notes + list(getattr(dataset, "notes", []) or [])
    model = bundle.model.to(device).to(memory_format=torch.channels_last)  # matches the Normaliser's layout
    counts = count_params(model)
    trainable, frozen = counts.trainable, counts.frozen

    if resume_from is not None:
        run_dir = store.resolve_run_dir(resume_from)
    else:
        run_dir = store.create_run(config.to_dict(), config.model_label() if isinstance(config.model, str)
                                   else bundle.name, config.dataset, checkpoint_root)
    store.update_run(run_dir, status="running", pid=os.getpid(), classes=prepared.classes,
                     model_record=bundle.record, model_name=config.model_label() if isinstance(config.model, str)
                     else bundle.name, mean=prepared.mean, std=prepared.std, input_shape=list(bundle.input_shape),
                     device=str(device), trainable_params=trainable, frozen_params=frozen, notes=notes,
                     message="", **bundle.extra)
    emit("run_dir", run_dir=str(run_dir), notes=notes, trainable_params=trainable, frozen_params=frozen)
    try:
        return _train_loop(config, bundle, prepared, model, device, amp_dtype, generator, run_dir, emit,
                           cancel_event, trainable, frozen, resume_from is not None)
    except TrainingCancelled:
        raise  # handled inside the loop; here only if cancelled before the first step
    except BaseException as error:
        store.update_run(run_dir, status="failed", message=str(error) or type(error).__name__)
        raise


def _train_loop(config: TrainConfig, bundle: ModelBundle, prepared: PreparedData, model: nn.Module,
                device: torch.device, amp_dtype, generator: torch.Generator, run_dir: Path, emit: _Emitter,
                cancel_event, trainable: int, frozen: int, resuming: bool) -> TrainResult:
    normalise = Normaliser(prepared.mean, prepared.std, device)
    augment_config = AugmentConfig.from_dict(config.augment)
    num_classes = len(prepared.classes)
    criterion = loss_function(config, num_classes)
    groups = bundle.param_groups(config.lr) if bundle.param_groups else [{"params": list(model.parameters())}]
    optimizer = build_optimizer(groups, config)
    n_train = len(prepared.train_x)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    schedule = LRSchedule(config, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    weights = weight_parameters(model)

    history: list[dict] = []
    steps: list[dict] = []
    best_val: Optional[float] = None
    start_epoch = 0
    if resuming and (run_dir / "resume.pt").is_file() and (run_dir / "last.pt").is_file():
        model.load_state_dict(store.load_tensors(run_dir / "last.pt", device))
        state = store.load_tensors(run_dir / "resume.pt")
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        old = store.load_history(run_dir)
        history, steps = old.get("epochs", []), old.get("steps", [])
        start_epoch = int(state["epoch"])
        best_val = state.get("best_val")
        emit("status", phase="training", message=f"resuming at epoch {start_epoch + 1}", fraction=None)
    else:
        for f in ("last.pt", "best.pt", "resume.pt"):
            (run_dir / f).unlink(missing_ok=True)

    def save_last(epoch_done: int) -> None:
        store.save_tensors(run_dir / "last.pt", model.state_dict())
        store.save_tensors(run_dir / "resume.pt", {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                                   "generator": generator.get_state(), "epoch": epoch_done,
                                                   "best_val": best_val})
        store.write_json(run_dir / "history.json", {"epochs": history, "steps": steps})

    started = time.perf_counter()
    train_seconds = 0.0
    train_images = 0
    status, message = "done", ""
    bad_epochs = 0
    global_step = start_epoch * steps_per_epoch
    epoch = start_epoch
    total_steps = config.epochs * steps_per_epoch
    try:
        for epoch in range(start_epoch, config.epochs):
            note = bundle.on_epoch_start(epoch, optimizer) if bundle.on_epoch_start else None
            if note:
                emit("status", phase="training", message=note, fraction=None)
            model.train()
            epoch_start = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            window_loss = torch.zeros((), device=device)
            window_steps = 0
            grad_sums = {name: 0.0 for name, _ in weights}
            grad_samples = 0
            lr = optimizer.param_groups[-1]["lr"]
            for epoch_step, index in enumerate(batches(n_train, config.batch_size, generator, device), start=1):
                _check_cancel(cancel_event)
                lr = schedule.apply(optimizer, epoch, epoch_step - 1)
                x = normalise(augment(prepared.train_x[index], augment_config, generator))
                y = prepared.train_y[index]
                with autocast_context(device, amp_dtype):
                    logits = model(x)
                    loss = criterion(logits, y)
                total = loss + config.l1 * l1_penalty(model) if config.l1 else loss
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
                global_step += 1
                log_now = epoch_step % config.log_every == 0 or epoch_step == steps_per_epoch
                if log_now:
                    if scaler.is_enabled():
                        scaler.unscale_(optimizer)
                    for name, p in weights:
                        if p.grad is not None:
                            grad_sums[name] += float(p.grad.detach().abs().mean())
                    grad_samples += 1
                scaler.step(optimizer)
                scaler.update()
                detached = loss.detach().float()
                loss_sum += detached * len(y)
                window_loss += detached
                window_steps += 1
                correct += (logits.detach().argmax(dim=1) == y).sum()
                seen += len(y)
                if log_now:
                    value = float(window_loss) / window_steps
                    if not math.isfinite(value):
                        raise TrainingDiverged(_diverged_message(config, epoch, epoch_step, value))
                    elapsed = time.perf_counter() - epoch_start
                    rate = seen / max(elapsed, 1e-9)
                    remaining = total_steps - global_step
                    eta = remaining * config.batch_size / max(rate, 1e-9)
                    point = {"step": global_step, "epoch": epoch + epoch_step / steps_per_epoch, "loss": value, "lr": lr}
                    steps.append(point)
                    emit("step", epoch=epoch + 1, epochs=config.epochs, step=global_step, epoch_step=epoch_step,
                         steps_per_epoch=steps_per_epoch, loss=value, lr=lr, images_per_s=rate, eta_s=eta)
                    window_loss = torch.zeros((), device=device)
                    window_steps = 0
            if device.type == "cuda":
                torch.cuda.synchronize()
            epoch_train_seconds = time.perf_counter() - epoch_start
            train_seconds += epoch_train_seconds
            train_images += seen
            train_loss = float(loss_sum) / max(seen, 1)
            if not math.isfinite(train_loss):
                raise TrainingDiverged(_diverged_message(config, epoch, steps_per_epoch, train_loss))
            val_loss, val_acc = _validate(model, prepared, normalise, criterion, amp_dtype)
            schedule.end_epoch(val_loss if val_loss is not None else train_loss)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": float(correct) / max(seen, 1),
                   "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                   "seconds": time.perf_counter() - epoch_start, "images_per_s": seen / max(epoch_train_seconds, 1e-9),
                   "grad": {name: (total / grad_samples if grad_samples else 0.0) for name, total in grad_sums.items()}}
            history.append(row)
            score = val_acc if val_acc is not None else row["train_acc"]
            improved = best_val is None or score > best_val
            if improved:
                best_val = score
                bad_epochs = 0
            else:
                bad_epochs += 1
            save_last(epoch + 1)
            if improved:
                store.save_tensors(run_dir / "best.pt", model.state_dict())
            store.update_run(run_dir, epochs_done=epoch + 1, best_val_accuracy=best_val)
            emit("epoch", row=row)
            if config.early_stopping and bad_epochs >= config.early_stopping and epoch + 1 < config.epochs:
                status = "early_stopped"
                message = (f"stopped early after epoch {epoch + 1}: validation accuracy did not improve "
                           f"for {config.early_stopping} epochs")
                break
    except TrainingCancelled:
        status, message = "cancelled", f"stopped by the user during epoch {epoch + 1}"
        save_last(len(history))
        if not (run_dir / "best.pt").is_file():
            store.save_tensors(run_dir / "best.pt", model.state_dict())
    seconds = time.perf_counter() - started
    img_per_s = train_images / train_seconds if train_seconds else 0.0
    result = TrainResult(
        run_id=run_dir.name, run_dir=str(run_dir), status=status, dataset=config.dataset,
        model=config.model_label() if isinstance(config.model, str) else bundle.name, device=str(device),
        epochs=len(history), seconds=seconds, train_img_per_s=img_per_s, test_acc=None, macro_f1=None,
        per_class=[], best_val_acc=best_val, trainable_params=trainable, frozen_params=frozen,
        history=history, message=message)
    if status != "cancelled":
        emit("status", phase="evaluating", message="evaluating the best epoch on the test split", fraction=None)
        model.load_state_dict(store.load_tensors(run_dir / "best.pt", device))
        resolution = config.test_resolution or config.train_resolution
        evaluation, predictions = evaluate_model(model, prepared.test_x, prepared.test_y, prepared.classes, normalise,
                                                 amp_dtype, resolution=resolution)
        store.write_json(run_dir / "results.json", evaluation.to_dict())
        store.write_json(run_dir / "predictions.json", predictions)
        result.results = evaluation.to_dict()
        result.test_acc, result.macro_f1, result.per_class = evaluation.accuracy, evaluation.macro_f1, evaluation.per_class
    store.update_run(run_dir, status=status, message=message, seconds=seconds, train_img_per_s=img_per_s,
                     test_accuracy=result.test_acc, macro_f1=result.macro_f1)
    return result


@torch.no_grad()
def _validate(model: nn.Module, prepared: PreparedData, normalise, criterion, amp_dtype) -> tuple[Optional[float], Optional[float]]:
    if len(prepared.val_x) == 0:
        return None, None
    probs = predict(model, prepared.val_x, normalise, autocast_dtype=amp_dtype)
    y = prepared.val_y.cpu()
    acc = float((probs.argmax(dim=1) == y).float().mean())
    loss = float(torch.nn.functional.nll_loss(probs.clamp_min(1e-12).log(), y))
    return loss, acc


def resume(run_dir: str | Path, on_progress: Optional[ProgressCallback] = None,
           cancel_event: Optional[threading.Event] = None) -> TrainResult:
    """Go on with an interrupted or cancelled run from its last saved epoch."""
    run_dir = store.resolve_run_dir(run_dir)
    config = TrainConfig.from_dict(store.read_json(run_dir / "config.json"))
    return train(config, on_progress=on_progress, cancel_event=cancel_event, resume_from=run_dir)
