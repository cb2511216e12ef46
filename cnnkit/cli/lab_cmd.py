"""`resolution-lab` and `labs`: the resolution lab (TOTV vs TVTV) from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnkit.cli.common import print_json, progress, read_json_input
from cnnkit.data.resolution import RESIZE_MODES


def _resolutions(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolutions are whole numbers separated by commas, e.g. 32,16,8 "
                                         f"(got {text!r})") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one resolution, e.g. 32,16,8")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser(
        "resolution-lab", help="TOTV vs TVTV: train at the native size and test at each resolution, against "
                               "training and testing at each resolution",
        description="Trains one model at the dataset's native size (TOTV, tested at every resolution) and one "
                    "per lower resolution (TVTV). Progress goes to stderr; the last stdout line is one JSON "
                    "object with `totv` and `tvtv` rows.")
    from cnnkit.labs.resolution import default_lab_training

    defaults = default_lab_training()
    lab.add_argument("--dataset", default=defaults.dataset, help=f"dataset name (default: {defaults.dataset})")
    lab.add_argument("--preset", default=defaults.model, help=f"model preset (default: {defaults.model})")
    lab.add_argument("--spec", type=Path, help="a model spec JSON file instead of a preset")
    lab.add_argument("--resolutions", type=_resolutions, default=[32, 16, 8], help="e.g. 32,16,8 (default)")
    lab.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epochs per model (default: {defaults.epochs})")
    lab.add_argument("--train-subset", type=int, default=0, help="train on this many images (0 = all)")
    lab.add_argument("--batch-size", type=int, default=None)
    lab.add_argument("--lr", type=float, default=None)
    lab.add_argument("--optimizer", default=None)
    lab.add_argument("--mode", choices=RESIZE_MODES, default="area",
                     help="downsampling filter (default: area)")
    lab.add_argument("--native-size", action="store_true",
                     help="feed the small images directly (global-pooling networks) instead of resampling back up")
    lab.add_argument("--device", default="auto", help="auto, cpu or cuda")
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--name", default="", help="a label for the lab and its runs")
    lab.add_argument("--config", type=Path, help="a JSON file of TrainConfig fields shared by every model")
    lab.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    lab.add_argument("--resume", metavar="LAB_ID",
                     help="go on with a saved lab that stopped before its end (its own settings; the others here "
                          "are ignored): its finished models are kept, the one it was training goes on after its "
                          "last finished epoch")
    lab.add_argument("--only", metavar="MODEL",
                     help="with --resume: train only this model of the lab (its label, e.g. 'TVTV 8 px'), beside the "
                          "lab's own process if it runs (a second core trains two of its models at once); the lab "
                          "takes it as trained when it gets there")
    lab.add_argument("--plan", action="store_true",
                     help="train nothing: print which models the lab would train and where each is tested")
    lab.set_defaults(func=run_lab_command)

    labs = subparsers.add_parser("labs", help="saved labs of every kind (newest first; damaged ones with the reason), "
                                              "or one with --show ID")
    labs.add_argument("--show", metavar="LAB_ID", help="print one saved lab's JSON")
    labs.add_argument("--json", action="store_true")
    labs.set_defaults(func=labs_command)


def build_lab_config(args: argparse.Namespace):
    from cnnkit.labs import ResolutionLabConfig
    from cnnkit.train import TrainConfig

    base: dict = {}
    if args.config:
        base = read_json_input(args.config, "JSON file of training settings")
        if not isinstance(base, dict):
            raise ValueError(f"{args.config} must hold a JSON object of training settings (got {type(base).__name__})")
    base.update(dataset=args.dataset, epochs=args.epochs, train_subset=args.train_subset, seed=args.seed,
                device=args.device)
    if args.spec:
        base["model"] = read_json_input(args.spec, "model spec JSON file")
    elif args.preset:
        base["model"] = args.preset
    for name in ("batch_size", "lr", "optimizer"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    config = ResolutionLabConfig(base=TrainConfig.from_dict(base).to_dict(), resolutions=list(args.resolutions),
                                 mode=args.mode, native_size=bool(args.native_size), name=args.name)
    config.validate()
    return config


class _Reporter:
    """Training events as short stderr lines: one per model start, epoch and evaluation."""

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "lab" and "lab_model" in event:
            progress(f"[{event['lab_stage']}/{event['lab_stages']}] training {event['lab_model']}")
        elif kind == "lab" and "lab_dir" in event:
            progress(f"lab {event['lab_id']} in {event['lab_dir']}")
        elif kind == "epoch":
            row = event["row"]
            val = row.get("val_acc")
            progress(f"  {row.get('model', '')} epoch {row['epoch']}: train loss {row['train_loss']:.4f}, "
                     f"train acc {row['train_acc']:.3f}" + (f", val acc {val:.3f}" if val is not None else ""))
        elif kind == "status" and event.get("phase") == "evaluating":
            progress(f"  {event.get('message', '')}")


def _table(result) -> str:
    lines = ["resolution  TOTV acc  TVTV acc  TOTV F1  TVTV F1"]
    totv = {r.resolution: r for r in result.totv}
    tvtv = {r.resolution: r for r in result.tvtv}
    for res in result.resolutions:
        a, b = totv.get(res), tvtv.get(res)
        cell = lambda row, key: f"{getattr(row, key):8.3f}" if row else "       -"  # noqa: E731
        lines.append(f"{res:>7} px  {cell(a, 'accuracy')}  {cell(b, 'accuracy')}  {cell(a, 'f1')} {cell(b, 'f1')}")
    return "\n".join(lines)


def run_lab_command(args: argparse.Namespace) -> int:
    from cnnkit.labs import resume_resolution_lab, run_resolution_lab, train_lab_model
    from cnnkit.store import FINISHED_STATUSES

    if args.only and not args.resume:
        raise ValueError("--only names a model of a saved lab: give the lab with --resume LAB_ID")
    if args.only:
        record = train_lab_model(args.resume, args.only, on_progress=_Reporter())
        progress(f"{args.only}: {record.status} after {record.epochs_done} epoch(s) in {record.run_dir}")
        print_json({"lab": args.resume, "model": args.only, "status": record.status, "run_dir": str(record.run_dir),
                    "epochs_done": record.epochs_done})
        return 0 if record.status in FINISHED_STATUSES else 1
    if args.resume:
        result = resume_resolution_lab(args.resume, on_progress=_Reporter())
    else:
        config = build_lab_config(args)
        plan = config.plan()
        progress(plan.text())
        if args.plan:
            print_json(plan.to_dict())
            return 0
        result = run_resolution_lab(config, on_progress=_Reporter())
    if not args.json:
        progress(_table(result))
    progress(f"{result.status} in {result.seconds:.1f} s; saved as lab {result.lab_id}")
    print_json(result.summary())
    return 0 if result.status == "done" else 1


def labs_command(args: argparse.Namespace) -> int:
    from cnnkit.labs import ResolutionLabResult, list_labs, load_lab

    if args.show:
        lab = load_lab(args.show)
        print_json(lab.summary() if hasattr(lab, "summary") else lab.to_dict())
        return 0
    labs = list_labs()
    if args.json:
        print_json([lab.to_dict() for lab in labs])
        return 0
    if not labs:
        progress("no saved labs yet")
    for lab in labs:
        line = f"{lab.lab_id}  {lab.kind or '?':10}  {lab.status:9}  {lab.title}"
        if lab.damaged:
            line += f"  ({lab.reason})"
        elif isinstance(lab.result, ResolutionLabResult):
            totv = " ".join(f"{r.resolution}:{r.accuracy:.2f}" for r in lab.result.totv)
            tvtv = " ".join(f"{r.resolution}:{r.accuracy:.2f}" for r in lab.result.tvtv)
            line += f"  TOTV {totv}  TVTV {tvtv}"
        print(line)
    return 0
