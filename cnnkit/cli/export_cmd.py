"""`export`, `tensorboard-export`, `import-run`: take a model home and bring it back.

    python -m cnnkit export RUN --zip out.zip --onnx out.onnx --json
    python -m cnnkit tensorboard-export [RUN ...] --logdir tb_runs
    python -m cnnkit import-run out.zip --json

With --json the last stdout line is one JSON object: export gives the zip's path and size and the
ONNX check (max_abs_logit_diff between onnxruntime and PyTorch, top-1 agreement); import-run gives
the new run's id and folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnkit.cli.common import print_json, progress


def cmd_export(args: argparse.Namespace) -> int:
    from cnnkit import store
    from cnnkit.export import build_run_zip, export_run_onnx

    if not args.zip and not args.onnx:
        raise ValueError("say what to write: --zip FILE, --onnx FILE or both")
    run_dir = store.resolve_run_dir(args.run)
    result: dict = {"run_id": run_dir.name}
    if args.zip:
        data = build_run_zip(run_dir, args.zip)
        result["zip"] = {"path": str(Path(args.zip)), "bytes": len(data)}
        if not args.json:
            progress(f"wrote {args.zip} ({len(data):,} bytes)")
    if args.onnx:
        exported = export_run_onnx(run_dir, args.onnx, check_count=args.check_images)
        result["onnx"] = exported.summary()
        if not args.json:
            progress(f"wrote {args.onnx} ({len(exported.data):,} bytes); onnxruntime vs PyTorch on "
                     f"{exported.checked_images} images: max |logit difference| {exported.max_abs_diff:.2e}, "
                     f"top-1 agreement {exported.agreement:.0%}")
    if args.json:
        print_json(result)
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from cnnkit.export import export_runs

    written = export_runs(args.runs, args.logdir)
    if args.json:
        print_json({"logdir": str(args.logdir), "runs": [run.to_dict() for run in written]})
    else:
        for run in written:
            progress(f"{run.run_id}: {run.epochs} epochs, {run.scalars} scalars -> {run.logdir}")
        progress(f"view them with: tensorboard --logdir {args.logdir}")
    return 0


def cmd_import_run(args: argparse.Namespace) -> int:
    from cnnkit.export import import_run_zip
    from cnnkit.fileio import check_output_folder
    from cnnkit.paths import CHECKPOINT_DIR_ENV, checkpoint_dir

    if not Path(args.zip).is_file():
        raise ValueError(f"no file {args.zip}; give the path of a run zip")
    from cnnkit.classroom import CLI_OWNER

    check_output_folder(checkpoint_dir(), CHECKPOINT_DIR_ENV)   # where the imported run goes
    run_dir = import_run_zip(args.zip, max_bytes=int(args.max_mb * 1024 * 1024), owner=CLI_OWNER, teacher=True)
    if args.json:
        print_json({"run_id": run_dir.name, "run_dir": str(run_dir)})
    else:
        progress(f"imported as run {run_dir.name} ({run_dir})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="download a run as a zip and/or export its network to ONNX",
                              description="A run as a zip that loads without CNN Lab (weights, model.py, config, "
                                          "metrics, README), and/or as ONNX checked against PyTorch.")
    p.add_argument("run", help="a saved run's folder or id")
    p.add_argument("--zip", help="write the run zip here")
    p.add_argument("--onnx", help="write the ONNX file here")
    p.add_argument("--check-images", type=int, default=4, help="images for the onnxruntime check (default 4)")
    p.add_argument("--json", action="store_true", help="one JSON line on stdout")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("tensorboard-export", help="write runs as TensorBoard event files",
                              description="Per-epoch losses, accuracies, learning rate, gradient norms and the "
                                          "settings (HParams) of saved runs, one folder per run.")
    p.add_argument("runs", nargs="*", help="run folders or ids (default: every run with a finished epoch)")
    p.add_argument("--logdir", required=True, help="folder for the event files")
    p.add_argument("--json", action="store_true", help="one JSON line on stdout")
    p.set_defaults(func=cmd_tensorboard)

    p = subparsers.add_parser("import-run", help="import a downloaded run zip as a saved run",
                              description="Checks the zip like an upload (weights only, sizes, paths, shapes "
                                          "against the rebuilt network; its code is never run).")
    p.add_argument("zip", help="path to the run zip")
    p.add_argument("--max-mb", type=float, default=512, help="refuse zips that expand past this (default 512)")
    p.add_argument("--json", action="store_true", help="one JSON line on stdout")
    p.set_defaults(func=cmd_import_run)
