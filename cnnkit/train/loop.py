"""train(config): one run from dataset to saved, evaluated checkpoint.

Progress goes out as small event dicts (on_progress) so a job manager, a CLI or a test can follow
it without sharing state with the loop:
  {"kind": "status", "phase", "message", "fraction"}       loading, preparing, evaluating, ...
  {"kind": "run_dir", "run_dir"}                          once the run folder exists
  {"kind": "step", "epoch", "step", "epoch_step", "steps_per_epoch", "loss", "lr", "images_per_s", "eta_s"}
                                                          eta_s: None while warming up (cnnkit.train.eta)
  {"kind": "epoch", "row": {...}}                         one per finished epoch (see EpochRow)
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

from cnnkit.cancellation import Cancelled, raise_if_cancelled
from cnnkit.classroom.permissions import STOPPED_BY_USER
from cnnkit.data import AugmentConfig, Normaliser, load_dataset
from cnnkit.device import cpu_instructions, denormals_flushed, resolve_device
from cnnkit.evaluate import autocast_context, evaluate_model, predict
from cnnkit.fileio import to_jsonable
from cnnkit.models import ModelBundle, build_bundle, count_params
from cnnkit.store import DamagedRun, EpochCommit, RunWriter
from cnnkit.store.checkpoints import load_weights_into
from cnnkit.train.config import TrainConfig
from cnnkit.train.eta import EtaEstimator, eval_cost_ratio
from cnnkit.train.optim import LRSchedule, build_optimizer, l1_penalty, loss_function, weight_parameters
from cnnkit.train.recipes import prepare_model
from cnnkit.train.pipeline import PreparedData, augment, batches, prepare_data
from cnnkit.train.tuning import ThreadTuner

ProgressCallback = Callable[[dict], None]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite, or exploded far above where it started; the message says what to change."""


class TrainingCancelled(Cancelled):
    """Stop was pressed: the job manager and labs catch it as cnnkit.cancellation.Cancelled."""


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
    threads: str = ""              # the CPU thread choice in words, e.g. "1 thread; 1 core busy elsewhere"

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
    raise_if_cancelled(cancel_event, error=TrainingCancelled)


# The loss "explodes" (diverges without reaching NaN, e.g. Adam at lr 1e4 ending at 3e16) when a logged
# window is both far above the run's first batch loss (before any update: near ln K for cross-entropy)
# and huge in absolute terms. The first logged window is no baseline: two steps at such a rate already explode.
EXPLODE_FACTOR = 1000.0
EXPLODE_FLOOR = 1e4


def _exploded(value: float, first: Optional[float]) -> bool:
    return first is not None and value > EXPLODE_FLOOR and value > EXPLODE_FACTOR * max(first, 1e-12)


def _diverged_message(config: TrainConfig, epoch: int, step: int, value: float,
                      first: Optional[float] = None) -> str:
    if math.isfinite(value):
        what = f"exploded to {value:.3g} (from {first:.3g} at the start)"
    else:
        what = "became " + ("NaN" if math.isnan(value) else "infinite")
    hint = f"lower the learning rate (now {config.lr:g})"
    if config.loss != "cross_entropy":
        hint += " or use cross-entropy"
    if config.optimizer == "sgd" and config.momentum > 0.95:
        hint += " or lower the momentum"
    return f"loss {what} at epoch {epoch + 1}, step {step}; {hint}"


def _image_size(config: TrainConfig, dataset) -> int:
    return int(config.image_size or dataset.train_x.shape[-1])


def _clone(state_dict: dict) -> dict:
    return {name: tensor.detach().clone() for name, tensor in state_dict.items()}


@dataclass
class RunState:
    """What the loop carries from one epoch to the next; the end of an epoch commits it (EpochCommit)."""

    epoch: int = 0                               # epochs done
    history: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    best_score: Optional[float] = None           # validation accuracy (train accuracy without a validation split)
    best_epoch: int = 0
    best_weights: Optional[dict] = None          # a copy of the best epoch's weights
    bad_epochs: int = 0
    start_loss: Optional[float] = None           # the first batch's loss, before any update
    train_seconds: float = 0.0
    train_images: int = 0
    status: str = "done"                         # done | early_stopped | cancelled
    message: str = ""



@dataclass
class Run:
    """Everything one run trains with, prepared once (see _prepare)."""

    config: TrainConfig
    device: torch.device
    amp_dtype: Optional[torch.dtype]
    generator: torch.Generator
    bundle: ModelBundle
    prepared: PreparedData
    model: nn.Module
    normalise: Normaliser
    augment: AugmentConfig
    criterion: Callable
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    writer: RunWriter
    emit: _Emitter
    cancel_event: Optional[threading.Event]
    trainable: int
    frozen: int
    tuner: ThreadTuner
    state: RunState = field(default_factory=RunState)
    started: float = field(default_factory=time.perf_counter)
    eta: Optional[EtaEstimator] = None  # the live ETA (cnnkit.train.eta): measured after warm-up

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.prepared.train_x) / self.config.batch_size)

    @property
    def model_name(self) -> str:
        return self.config.model_label() if isinstance(self.config.model, str) else self.bundle.name


def train(config: TrainConfig, on_progress: Optional[ProgressCallback] = None,
          cancel_event: Optional[threading.Event] = None, resume_from: Optional[str | Path] = None,
          checkpoint_root: Optional[Path] = None, owner: str = "", threads: Optional[int] = None,
          thread_cap: Optional[Callable[[], Optional[int]]] = None) -> TrainResult:
    """Train, save and evaluate one run. resume_from: an interrupted/cancelled run folder to go on with.
    owner: who trains it (recorded in a new run's run.json; "" = a guest; a resumed run keeps its own).
    threads: CPU threads chosen by the user (None: CNNKIT_THREADS / OMP_NUM_THREADS, else tuned on the
    first batches, see cnnkit.train.tuning); thread_cap: the job manager's fair share, asked at each tuning.

    Raises ValueError (bad settings, unavailable data, diverged loss, a run that is busy, finished or
    damaged) with a message saying what to change. A cancelled run returns with status "cancelled"
    and keeps what was trained."""
    config.validate()
    writer = RunWriter.open(resume_from) if resume_from is not None else None
    return _train(config, writer, _Emitter(on_progress), cancel_event, checkpoint_root, owner,
                  (threads, thread_cap))


def resume(run_dir: str | Path, on_progress: Optional[ProgressCallback] = None,
           cancel_event: Optional[threading.Event] = None, threads: Optional[int] = None) -> TrainResult:
    """Go on with an interrupted or cancelled run right after its last committed epoch."""
    writer = RunWriter.open(run_dir)
    try:
        config = TrainConfig.from_dict(writer.read_config())
        config.validate()
    except ValueError as error:
        writer.close()
        raise DamagedRun(f"run {writer.run_dir.name} cannot be resumed: config.json: {error}") from None
    return _train(config, writer, _Emitter(on_progress), cancel_event, None, "", (threads, None))


@denormals_flushed()  # from before the first parallel op: the OpenMP threads it starts get it too
def _train(config: TrainConfig, writer: Optional[RunWriter], emit: _Emitter,
           cancel_event: Optional[threading.Event], checkpoint_root: Optional[Path], owner: str = "",
           threads: tuple = (None, None)) -> TrainResult:
    """The recipe: prepare (nothing written until everything is checked), epochs, final evaluation."""
    try:
        run = _prepare(config, writer, emit, cancel_event, checkpoint_root, owner, threads)
    except BaseException:
        if writer is not None:
            writer.close()  # a failed resume leaves the run as it was
        raise
    with run.writer:
        try:
            while run.state.epoch < config.epochs and run.state.status == "done":
                epoch_start, trained_before = time.perf_counter(), run.state.train_seconds
                row = _train_epoch(run)
                _end_epoch(run, row)
                run.eta.epoch_done(time.perf_counter() - epoch_start, run.state.train_seconds - trained_before)
        except TrainingCancelled:
            _stop_cancelled(run)
        except BaseException as error:
            run.tuner.restore()
            run.writer.finish("failed", message=str(error) or type(error).__name__)
            raise
        try:
            return _finish(run)
        except BaseException as error:
            run.writer.finish("failed", message=str(error) or type(error).__name__)
            raise
        finally:
            run.tuner.restore()


def _prepare(config: TrainConfig, writer: Optional[RunWriter], emit: _Emitter,
             cancel_event: Optional[threading.Event], checkpoint_root: Optional[Path], owner: str = "",
             threads: tuple = (None, None)) -> Run:
    """Data, network, optimiser, the committed state of a resumed run; then (and only then) the run
    folder is written: created, or brought in line with its last commit and marked running."""
    device = resolve_device(config.device)
    tuner = ThreadTuner(device, emit, explicit=threads[0], cap=threads[1])  # a bad --threads fails before any work
    generator = seed_everything(config.seed)
    if writer is not None:
        _check_config_matches_run(config, writer)
    emit("status", phase="loading", message=f"loading {config.dataset}", fraction=0.0)
    dataset = load_dataset(config.dataset, progress=lambda f, m: emit("status", phase="loading", message=m, fraction=f))
    _check_cancel(cancel_event)
    channels = int(dataset.train_x.shape[1])
    size = _image_size(config, dataset)
    bundle = build_bundle(config.model, (channels, size, size), len(dataset.classes), config,
                          image_size_given=config.image_size is not None)
    if writer is not None:
        _check_record_matches_run(bundle, writer)
    emit("status", phase="preparing", message="preparing tensors", fraction=None)
    # bundle.input_shape: a preset may insist on its own size (cnn4_gap: 64)
    prepared = prepare_data(config, dataset, device, bundle.input_shape[1], bundle.normalisation)
    model = bundle.model.to(device).to(memory_format=torch.channels_last)  # matches the Normaliser's layout
    normalise = Normaliser(prepared.mean, prepared.std, device)
    prepare_model(model, config, prepared.train_x, normalise)  # data-dependent init (speedrun94's whitening)
    counts = count_params(model)
    amp_dtype = autocast_dtype_for(config.precision, device)
    groups = bundle.param_groups(config.lr) if bundle.param_groups else [{"params": list(model.parameters())}]
    optimizer = build_optimizer(groups, config)
    commit = None
    if writer is not None:
        commit = writer.load_commit()  # on the CPU: RNG states must stay there; weights are copied over
        if commit is not None:
            _restore(commit, model, optimizer, generator, writer.run_dir)
    else:
        writer = RunWriter.create(config.to_dict(), config.model_label() if isinstance(config.model, str)
                                  else bundle.name, config.dataset, checkpoint_root, owner=owner)
    run = Run(config=config, device=device, amp_dtype=amp_dtype, generator=generator, bundle=bundle,
              prepared=prepared, model=model, normalise=normalise,
              augment=AugmentConfig.from_dict(config.augment),
              criterion=loss_function(config, len(prepared.classes)), optimizer=optimizer,
              schedule=LRSchedule(config, math.ceil(len(prepared.train_x) / config.batch_size)),
              scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16), writer=writer, emit=emit,
              cancel_event=cancel_event, trainable=counts.trainable, frozen=counts.frozen, tuner=tuner)
    run.eta = EtaEstimator(total_steps=config.epochs * run.steps_per_epoch, steps_per_epoch=run.steps_per_epoch,
                           batch_size=config.batch_size, val_images=len(prepared.val_x),
                           test_images=len(prepared.test_x), epochs_done_before=commit.epoch if commit else 0,
                           eval_cost_ratio=eval_cost_ratio(counts.trainable, counts.frozen))
    if commit is not None:
        run.schedule.load_state_dict(commit.schedule)
        run.state = RunState(epoch=commit.epoch, history=list(commit.history["epochs"]),
                             steps=list(commit.history["steps"]), best_score=commit.best_score,
                             best_epoch=commit.best_epoch,
                             best_weights=_clone(commit.best_weights),
                             bad_epochs=commit.bad_epochs, start_loss=commit.start_loss)
    # the network's input: with restore_size off it sees the small training images directly
    input_shape = list(bundle.input_shape)
    if not config.restore_size and config.train_resolution:
        input_shape = [channels, config.train_resolution, config.train_resolution]
    notes = bundle.notes + prepared.notes + list(getattr(dataset, "notes", []) or [])
    writer.start(commit, classes=prepared.classes, model_record=bundle.record, model_name=run.model_name,
                 mean=prepared.mean, std=prepared.std, input_shape=input_shape, device=str(device),
                 trainable_params=counts.trainable, frozen_params=counts.frozen, notes=notes, **bundle.extra)
    emit("run_dir", run_dir=str(writer.run_dir), notes=notes, trainable_params=counts.trainable,
         frozen_params=counts.frozen)
    if commit is not None:
        emit("status", phase="training", message=f"resuming at epoch {commit.epoch + 1}", fraction=None)
    return run


def _check_config_matches_run(config: TrainConfig, writer: RunWriter) -> None:
    recorded = writer.meta.get("dataset")
    if recorded and config.dataset != recorded:
        raise DamagedRun(f"run {writer.run_dir.name} cannot be resumed: its settings (config.json) name dataset "
                         f"{config.dataset!r} but it was trained on {recorded!r} (run.json); config.json is damaged")


def _check_record_matches_run(bundle: ModelBundle, writer: RunWriter) -> None:
    recorded = writer.meta.get("model_record")
    if recorded and recorded.get("kind", "spec") == "spec" and to_jsonable(bundle.record) != recorded:
        raise DamagedRun(f"run {writer.run_dir.name} cannot be resumed: its settings (config.json) build another "
                         "network than the one it trained (run.json field 'model_record'); config.json is damaged")


def _restore(commit: EpochCommit, model: nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator, run_dir: Path) -> None:
    path = run_dir / "state.pt"
    load_weights_into(model, commit.last, path)
    try:
        optimizer.load_state_dict(commit.optimizer)
        generator.set_state(commit.generator)
        torch.set_rng_state(commit.torch_rng)
    except (ValueError, RuntimeError, TypeError, KeyError) as error:
        raise DamagedRun(f"this checkpoint cannot be loaded: {path}: its optimiser or random state does not fit "
                         f"({str(error).splitlines()[0][:160]})") from None


def _train_epoch(run: Run) -> dict:
    """One pass over the training split; the epoch's row (validation included)."""
    config, state, model = run.config, run.state, run.model
    epoch = state.epoch  # counted from 0 here
    note = run.bundle.on_epoch_start(epoch, run.optimizer) if run.bundle.on_epoch_start else None
    if note:
        run.emit("status", phase="training", message=note, fraction=None)
    model.train()
    run.eta.begin_epoch()
    steps_per_epoch = run.steps_per_epoch
    global_step = epoch * steps_per_epoch
    weights = weight_parameters(model)
    epoch_start = time.perf_counter()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    seen = 0
    window_loss = torch.zeros((), device=run.device)
    window_steps = 0
    grad_sums = {name: 0.0 for name, _ in weights}
    grad_samples = 0
    lr = run.optimizer.param_groups[-1]["lr"]
    n_train = len(run.prepared.train_x)
    for epoch_step, index in enumerate(batches(n_train, config.batch_size, run.generator, run.device), start=1):
        _check_cancel(run.cancel_event)
        run.tuner.batch_started()
        lr = run.schedule.apply(run.optimizer, epoch, epoch_step - 1)
        x = run.normalise(augment(run.prepared.train_x[index], run.augment, run.generator))
        y = run.prepared.train_y[index]
        with autocast_context(run.device, run.amp_dtype):
            logits = model(x)
            loss = run.criterion(logits, y)
        total = loss + config.l1 * l1_penalty(model) if config.l1 else loss
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(total).backward()
        global_step += 1
        log_now = epoch_step % config.log_every == 0 or epoch_step == steps_per_epoch
        if log_now:
            if run.scaler.is_enabled():
                run.scaler.unscale_(run.optimizer)
            for name, p in weights:
                if p.grad is not None:
                    grad_sums[name] += float(p.grad.detach().abs().mean())
            grad_samples += 1
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.eta.step()
        detached = loss.detach().float()
        if state.start_loss is None:
            state.start_loss = float(detached)  # one sync per run
        loss_sum += detached * len(y)
        window_loss += detached
        window_steps += 1
        correct += (logits.detach().argmax(dim=1) == y).sum()
        seen += len(y)
        run.tuner.batch_done(len(y))
        if log_now:
            value = float(window_loss) / window_steps
            if not math.isfinite(value) or _exploded(value, state.start_loss):
                raise TrainingDiverged(_diverged_message(config, epoch, epoch_step, value, state.start_loss))
            elapsed = time.perf_counter() - epoch_start
            rate = seen / max(elapsed, 1e-9)
            eta = run.eta.eta(global_step)  # None while warming up: "estimating…"
            state.steps.append({"step": global_step, "epoch": epoch + epoch_step / steps_per_epoch, "loss": value,
                                "lr": lr})
            run.emit("step", epoch=epoch + 1, epochs=config.epochs, step=global_step, epoch_step=epoch_step,
                     steps_per_epoch=steps_per_epoch, loss=value, lr=lr, images_per_s=rate, eta_s=eta)
            window_loss = torch.zeros((), device=run.device)
            window_steps = 0
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - epoch_start
    state.train_seconds += train_seconds
    state.train_images += seen
    train_loss = float(loss_sum) / max(seen, 1)
    if not math.isfinite(train_loss):
        raise TrainingDiverged(_diverged_message(config, epoch, steps_per_epoch, train_loss))
    val_loss, val_acc = _validate(model, run.prepared, run.normalise, run.criterion, run.amp_dtype)
    run.schedule.end_epoch(val_loss if val_loss is not None else train_loss)
    return {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": float(correct) / max(seen, 1),
            "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
            "seconds": time.perf_counter() - epoch_start, "images_per_s": seen / max(train_seconds, 1e-9),
            "grad": {name: (total / grad_samples if grad_samples else 0.0) for name, total in grad_sums.items()}}


def _end_epoch(run: Run, row: dict) -> None:
    """Best-model bookkeeping, the epoch's one commit, progress, early stopping."""
    state, config = run.state, run.config
    state.epoch += 1
    state.history.append(row)
    score = row["val_acc"] if row["val_acc"] is not None else row["train_acc"]
    improved = state.best_score is None or score > state.best_score
    if improved:  # a copy: the next epochs train the model's own tensors further
        state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
        state.best_weights = _clone(run.model.state_dict())
    else:
        state.bad_epochs += 1
    run.writer.commit_epoch(EpochCommit(
        epoch=state.epoch, last=run.model.state_dict(),
        best=None if state.best_epoch == state.epoch else state.best_weights, best_epoch=state.best_epoch,
        best_score=state.best_score, bad_epochs=state.bad_epochs, optimizer=run.optimizer.state_dict(),
        schedule=run.schedule.state_dict(), generator=run.generator.get_state(), torch_rng=torch.get_rng_state(),
        history={"epochs": state.history, "steps": state.steps}, start_loss=state.start_loss), improved=improved)
    run.emit("epoch", row=row)
    if config.early_stopping and state.bad_epochs >= config.early_stopping and state.epoch < config.epochs:
        state.status = "early_stopped"
        state.message = (f"stopped early after epoch {state.epoch}: validation accuracy did not improve "
                         f"for {config.early_stopping} epochs")


def _stop_cancelled(run: Run) -> None:
    """Cancelled: the last commit stays (resume goes on from it); a run without one keeps its partial weights."""
    run.state.status = "cancelled"
    run.state.message = f"{STOPPED_BY_USER} during epoch {run.state.epoch + 1}"
    if run.state.epoch == 0:
        run.writer.save_partial_weights(run.model.state_dict())


def _finish(run: Run) -> TrainResult:
    """The best epoch on the test split (not for a cancelled run), the result, the run's final status."""
    state, config = run.state, run.config
    run.tuner.settle()
    seconds = time.perf_counter() - run.started
    img_per_s = state.train_images / state.train_seconds if state.train_seconds else 0.0
    result = TrainResult(
        run_id=run.writer.run_dir.name, run_dir=str(run.writer.run_dir), status=state.status, dataset=config.dataset,
        model=run.model_name, device=str(run.device), epochs=len(state.history), seconds=seconds,
        train_img_per_s=img_per_s, test_acc=None, macro_f1=None, per_class=[], best_val_acc=state.best_score,
        trainable_params=run.trainable, frozen_params=run.frozen, history=state.history, message=state.message,
        threads=run.tuner.choice.text if run.tuner.choice else "")
    if state.status != "cancelled":
        run.emit("status", phase="evaluating", message="evaluating the best epoch on the test split", fraction=None)
        if state.best_weights is not None:
            run.model.load_state_dict(state.best_weights)
        resolution = config.test_resolution or config.train_resolution
        evaluation, predictions = evaluate_model(run.model, run.prepared.test_x, run.prepared.test_y,
                                                 run.prepared.classes, run.normalise, run.amp_dtype,
                                                 resolution=resolution, flip_tta=config.flip_tta)
        if run.prepared.test_index is not None:   # a test_subset: positions -> the dataset's test indices
            index = run.prepared.test_index.tolist()
            predictions["test_index"] = index
            for mistake in evaluation.mistakes:
                mistake["index"] = index[mistake["index"]]
        run.writer.write_results(evaluation.to_dict(), predictions)
        result.results = evaluation.to_dict()
        result.test_acc, result.macro_f1, result.per_class = evaluation.accuracy, evaluation.macro_f1, evaluation.per_class
    thread_fields = {"threads": run.tuner.choice.to_dict()} if run.tuner.choice else {}
    if run.device.type == "cpu":   # what the figures of this seed repeat on (cpu_instructions)
        thread_fields["cpu_instructions"] = cpu_instructions()
    run.writer.finish(state.status, message=state.message, seconds=seconds, train_img_per_s=img_per_s,
                      test_accuracy=result.test_acc, macro_f1=result.macro_f1, **thread_fields)
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
