"""`train`, `resume`, `evaluate` and `runs`: the training runner from the shell."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from cnnkit.classroom.permissions import CLI_OWNER
from cnnkit.cli.common import add_config_flags, config_from_flags, print_json, progress, read_json_input
from cnnkit.data.resolution import RESIZE_MODES


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """train's flags: a --config file and the model (--preset or --spec), then one flag per TrainConfig field."""
    parser.add_argument("--config", type=Path, help="a JSON file of TrainConfig fields; flags override it")
    parser.add_argument("--preset", help="model preset name (see `python -m cnnkit presets`)")
    parser.add_argument("--spec", type=Path, help="a model spec JSON file (from the Architecture builder)")
    add_config_flags(parser)


def config_from_args(args: argparse.Namespace):
    data: dict[str, Any] = {}
    if args.config:
        data = read_json_input(args.config, "JSON file of training settings")
        if not isinstance(data, dict):
            raise ValueError(f"{args.config} must hold a JSON object of training settings (got {type(data).__name__})")
    if args.preset and args.spec:
        raise ValueError("give either --preset or --spec, not both")
    if args.preset:
        data["model"] = args.preset
    if args.spec:
        data["model"] = read_json_input(args.spec, "model spec JSON file")
    return config_from_flags(args, data)


def _stderr_progress(json_mode: bool):
    last = [0.0]
    last_status = [0.0, ""]

    def report(event: dict) -> None:
        kind = event["kind"]
        if kind == "status":
            # a decode reports every few hundred images: print phase changes, then every 2 s
            phase = event.get("phase", "")
            if phase != last_status[1] or time.monotonic() - last_status[0] > 2 or event.get("fraction") == 1.0:
                last_status[:] = [time.monotonic(), phase]
                progress(f"[{phase}] {event.get('message', '')}")
        elif kind == "step" and time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            progress(f"epoch {event['epoch']}/{event['epochs']} step {event['epoch_step']}/{event['steps_per_epoch']} "
                     f"loss {event['loss']:.4f} lr {event['lr']:.2e} {event['images_per_s']:.0f} img/s "
                     + (f"ETA {event['eta_s']:.0f} s" if event.get("eta_s") is not None else "ETA estimating…"))
        elif kind == "epoch":
            row = event["row"]
            val = f" val loss {row['val_loss']:.4f} val acc {row['val_acc']:.2%}" if row["val_acc"] is not None else ""
            progress(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}{val} "
                     f"({row['seconds']:.1f} s, {row['images_per_s']:.0f} img/s)")
        elif kind == "threads":
            progress(f"CPU: {event['threads_text']}")
        elif kind == "run_dir":
            progress(f"run folder: {event['run_dir']}")
            for note in event.get("notes", []):
                progress(f"note: {note}")

    return report


def _print_result(result, json_mode: bool) -> None:
    summary = result.summary()
    if not json_mode:
        progress(f"test accuracy {summary['test_acc']:.2%}, macro F1 {summary['macro_f1']:.3f}"
                 if summary["test_acc"] is not None else summary.get("message", ""))
    print_json(summary)


def cmd_train(args: argparse.Namespace) -> int:
    from cnnkit.train import train

    from cnnkit.classroom import check_run_allowed, load_classroom_config

    from cnnkit.fileio import check_output_folder
    from cnnkit.paths import CHECKPOINT_DIR_ENV, checkpoint_dir

    config = config_from_args(args)
    check_run_allowed(config, load_classroom_config())  # the class's limits (cnnlab.toml), as on the pages
    check_output_folder(checkpoint_dir(), CHECKPOINT_DIR_ENV)   # where the run folder goes, before training
    result = train(config, on_progress=_stderr_progress(args.json), owner=args.owner, threads=args.threads)
    _print_result(result, args.json)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from cnnkit.train import resume

    result = resume(args.run, on_progress=_stderr_progress(args.json), threads=args.threads)
    _print_result(result, args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cnnkit.evaluate import evaluate_run
    from cnnkit.store import load_run, resolve_run_dir

    run_dir = resolve_run_dir(args.run)
    record = load_run(run_dir)
    if record.status == "damaged":
        raise ValueError(record.message)  # names the file and the field
    started = time.perf_counter()
    result, _ = evaluate_run(run_dir, dataset=args.dataset, resolution=args.resolution, mode=args.resize_mode,
                             restore=not args.native_size, which=args.which, device=args.device)
    print_json({"test_acc": result.accuracy, "macro_f1": result.macro_f1, "macro_precision": result.macro_precision,
                "macro_recall": result.macro_recall, "per_class": result.per_class, "top_k": result.top_k,
                "confusion": result.confusion, "epochs": record.epochs_done, "seconds": time.perf_counter() - started,
                "train_img_per_s": _meta(run_dir).get("train_img_per_s"),
                "device": args.device, "run_dir": str(run_dir), "dataset": args.dataset or record.dataset,
                "resolution": args.resolution})
    return 0


def _meta(run_dir: Path) -> dict:
    from cnnkit.store import read_run_meta

    return read_run_meta(run_dir)


def cmd_runs(args: argparse.Namespace) -> int:
    from cnnkit.store import list_runs

    runs = list_runs()
    if args.json:
        print_json([r.to_dict() for r in runs])
    else:
        for r in runs:
            if r.status == "damaged":
                print(f"{r.run_id}\tdamaged\t{r.message}\t{r.run_dir}")
                continue
            acc = f"{r.test_accuracy:.2%}" if r.test_accuracy is not None else "-"
            print(f"{r.run_id}\t{r.status}\t{r.model_name}\t{r.dataset}\t{r.epochs_done}/{r.epochs} epochs\t{acc}")
    return 0


def _add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads to train with (default: timed on the first batches from the cores free "
                             "now, and again when the speed drops; CNNKIT_THREADS or OMP_NUM_THREADS also fix it)")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model (progress on stderr, one JSON line on stdout)")
    add_train_flags(train)
    train.add_argument("--json", action="store_true", help="only the JSON result on stdout (it is always the last line)")
    train.add_argument("--owner", default=CLI_OWNER, help="whose run it is (the class board and Runs tab show it; "
                       f"default {CLI_OWNER!r}, which no web session can act as)")
    _add_threads_flag(train)
    train.set_defaults(func=cmd_train)

    resume = subparsers.add_parser("resume", help="go on with an interrupted or stopped run from its last epoch")
    resume.add_argument("run", help="run folder or run id")
    resume.add_argument("--json", action="store_true")
    _add_threads_flag(resume)
    resume.set_defaults(func=cmd_resume)

    evaluate = subparsers.add_parser("evaluate", help="evaluate a saved run on a test split")
    evaluate.add_argument("run", help="run folder or run id")
    evaluate.add_argument("--dataset", help="another dataset with the same classes (default: the run's)")
    evaluate.add_argument("--resolution", type=int, help="test on images downsampled to this size")
    evaluate.add_argument("--resize-mode", default="area", choices=RESIZE_MODES)
    evaluate.add_argument("--native-size", action="store_true", help="feed low resolutions without resampling back up")
    evaluate.add_argument("--which", default="best", choices=("best", "last"))
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    runs = subparsers.add_parser("runs", help="list saved runs")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)
