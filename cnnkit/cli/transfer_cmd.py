"""`transfer`: fine-tune a pretrained network (or a saved run of ours) on a dataset, headless.

    python -m cnnkit transfer --source efficientnet_lite0 --dataset cifar10-jpeg --strategy head \
        --epochs 3 --image-size 96 --json

The last stdout line is the trainer's JSON result (TrainResult.summary(): test_acc, macro_f1,
per_class, seconds, trainable_params, frozen_params, ...) plus strategy, source and, with
--estimate, the measured cost instead of a run (cnnkit.transfer.estimate.plan_cost: per stage,
the mean seconds per epoch over the run, and the total).
"""

from __future__ import annotations

import argparse

from cnnkit.cli.common import add_config_flags, config_from_flags, optional_number, print_json, progress


def _defaults():
    """transfer's own defaults where they differ from TrainConfig's (the page's too)."""
    from cnnkit.train.recipes import transfer_defaults

    return transfer_defaults()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer", help="fine-tune a pretrained network or a saved run on a dataset",
        description="Transfer learning: a new head on a pretrained backbone (efficientnet_lite0 works offline) "
                    "or on one of your saved runs, trained with a freezing strategy.")
    parser.add_argument("--source", required=True,
                        help="pretrained model name (efficientnet_lite0, resnet18, ...) or a saved run's folder or id")
    parser.add_argument("--strategy", default="head",
                        help="head (feature extraction), last:N (unfreeze the last N blocks), full, or two-stage")
    parser.add_argument("--image-size", type=optional_number(int), default=None,
                        help="network input size in px, or native (default: the dataset's; a saved run's own size)")
    parser.add_argument("--backbone-lr-factor", type=float, default=1.0,
                        help="backbone learning rate = lr × this (default 1)")
    parser.add_argument("--head-epochs", type=int, default=1, help="two-stage: epochs training only the head")
    parser.add_argument("--unfreeze", default="full", help="two-stage: what trains after the head epochs (full or last:N)")
    parser.add_argument("--unfreeze-lr-factor", type=float, default=10.0,
                        help="two-stage: divide every learning rate by this when unfreezing (default 10)")
    parser.add_argument("--estimate", action="store_true",
                        help="measure the cost per epoch and the parameter counts instead of training")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout (progress on stderr)")
    # the training settings: train's flags (the input size is the transfer model's own, above)
    add_config_flags(parser, defaults=_defaults(), skip=("image_size",), required=("dataset",))
    parser.set_defaults(func=cmd_transfer)


def model_dict_from_args(args: argparse.Namespace) -> dict:
    from cnnkit.transfer.builder import TransferSettings, check_source

    check_source(args.source)  # fail before the dataset loads
    settings = TransferSettings.from_dict({
        "source": args.source, "strategy": args.strategy, "head_epochs": args.head_epochs,
        "unfreeze": args.unfreeze, "unfreeze_lr_factor": args.unfreeze_lr_factor,
        "backbone_lr_factor": args.backbone_lr_factor, "image_size": args.image_size})
    return settings.to_dict()


def config_from_args(args: argparse.Namespace):
    base = _defaults().to_dict() | {"model": model_dict_from_args(args)}
    config = config_from_flags(args, base)
    config.validate()
    return config


def _estimate(config) -> dict:
    from cnnkit.data import dataset_info
    from cnnkit.transfer.builder import build_transfer_bundle
    from cnnkit.transfer.estimate import plan_cost

    info = dataset_info(config.dataset)
    if not info.available:
        raise ValueError(f"dataset {config.dataset} is not available: {info.reason}")
    bundle = build_transfer_bundle(config.model, (info.channels, info.height, info.width), len(info.classes), config)
    # the whole run's cost: a two-stage run's later epochs at the unfrozen strategy's cost, not the head's
    cost = plan_cost(config, config.device, info=info)
    trainable = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in bundle.model.parameters() if not p.requires_grad)
    return {"estimate": cost.to_dict(), "seconds_per_epoch": cost.seconds_per_epoch,
            "total_seconds": cost.total_seconds, "trainable_params": trainable,
            "frozen_params": frozen, "strategy": bundle.extra["strategy"], "source": bundle.extra["source"],
            "input_shape": list(bundle.input_shape), "blocks": bundle.extra["block_names"]}


def cmd_transfer(args: argparse.Namespace) -> int:
    from cnnkit.cli.train_cmd import _stderr_progress
    from cnnkit.train import train

    config = config_from_args(args)
    if args.estimate:
        data = _estimate(config)
        if not args.json:
            progress(f"{data['trainable_params']:,} trainable, {data['frozen_params']:,} frozen parameters; "
                     f"{data['estimate']['text']}")
        print_json(data)
        return 0
    result = train(config, on_progress=_stderr_progress(args.json))
    summary = result.summary()
    summary["strategy"] = config.model["strategy"]
    summary["source"] = config.model["source"]
    summary["seconds_per_epoch"] = (sum(row["seconds"] for row in result.history) / len(result.history)
                                    if result.history else None)
    if not args.json:
        progress(f"test accuracy {summary['test_acc']:.2%}, {summary['trainable_params']:,} trainable / "
                 f"{summary['frozen_params']:,} frozen parameters" if summary["test_acc"] is not None
                 else summary.get("message", ""))
    print_json(summary)
    return 0
