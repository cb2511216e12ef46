"""A teacher lesson file and a shipped result for it, in temporary folders (the Lessons page tests)."""

from __future__ import annotations

from pathlib import Path

LESSON_ID = "test-bn"

# Markdown in the title: the page must show it as written.
LESSON_TOML = '''
id = "test-bn"
title = "Batch norm on shapes (test)"
topic = "regularisation"
question = "Does batch norm help on shapes?"
report = "002"
section = "002-Q4"
look_at = ["the first epoch's training accuracy"]
conclusion = "Batch norm ends higher."
filled_in = ["a tiny subset: this is a test"]

[defaults]
dataset = "shapes"
epochs = 2
optimizer = "adam"
lr = 0.001
batch_size = 32
scheduler = "constant"
label_smoothing = 0.0
weight_decay = 0.0

[quick]
train_subset = 64
epochs = 1

[[arms]]
id = "base"
label = "Base CNN"
config = { model = "cnn3" }
[arms.reported]
test_accuracy = 73.79
macro_f1 = 0.7389
[arms.reported.curves]
train_loss = [1.4393, 1.0006]

[[arms]]
id = "bn"
label = "Base CNN + BatchNorm"
config = { model = "cnn3_bn" }
[arms.reported]
test_accuracy = 77.71
macro_f1 = 0.7792
[arms.reported.curves]
train_loss = [1.1901, 0.8271]
'''


def lesson_folders(monkeypatch, tmp_path: Path) -> dict[str, Path]:
    """Data (with the teacher's lesson file), checkpoint and shipped-results folders of this test only."""
    folders = {name: tmp_path / name for name in ("data", "checkpoints", "shipped")}
    for folder in folders.values():
        folder.mkdir()
    (folders["data"] / "lessons").mkdir()
    (folders["data"] / "lessons" / f"{LESSON_ID}.toml").write_text(LESSON_TOML)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(folders["data"]))
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(folders["checkpoints"]))
    monkeypatch.setenv("CNNKIT_LESSON_RESULTS_DIR", str(folders["shipped"]))
    return folders


def _history(start: float) -> list[dict]:
    return [{"epoch": 1, "train_loss": start, "val_loss": start + 0.1, "train_acc": 0.5, "val_acc": 0.45},
            {"epoch": 2, "train_loss": start - 0.4, "val_loss": start - 0.2, "train_acc": 0.7, "val_acc": 0.65}]


def shipped_result(folders: dict[str, Path], run_ids: dict[str, list[str]] | None = None):
    """A quick-mode result of two seeds per arm, shipped with the engine's own ship_result; `run_ids`: arm id ->
    ids of saved runs of ours (a fresh install has none)."""
    from cnnkit.lessons import ArmResult, LessonResult, metric_summary, ship_result

    def arm(arm_id: str, accuracies: list[float], loss: float) -> ArmResult:
        return ArmResult(arm_id=arm_id, run_ids=list((run_ids or {}).get(arm_id, [])), seeds=[0, 1],
                         metrics={"test_accuracy": metric_summary(accuracies),
                                  "macro_f1": metric_summary([a / 100 for a in accuracies])},
                         histories=[_history(loss), _history(loss + 0.05)],
                         confusion=[[5, 1], [2, 4]], classes=["circle", "square"],
                         per_class={"circle": {"precision": 0.7, "recall": 0.8, "f1": 0.75}})

    result = LessonResult(lesson_id=LESSON_ID, mode="quick", device="cpu", seeds=[0, 1],
                          arms=[arm("base", [69.5, 70.5], 1.5), arm("bn", [77.0, 79.0], 1.2)],
                          seconds=12.0, status="done", lesson_title="Batch norm on shapes (test)")
    return ship_result(result, folder=folders["shipped"] / f"{LESSON_ID}-quick")


RESOLUTION_ID = "test-res"
RESOLUTION_TOML = '''
id = "test-res"
title = "TOTV against TVTV (test)"
topic = "resolution"
question = "Low resolution or mismatch?"

[[arms]]
id = "lab"
label = "Resolution lab"
kind = "resolution_lab"
[arms.config]
resolutions = [32, 16, 8]
mode = "area"
native_size = false
[arms.config.base]
dataset = "shapes"
model = "cnn3"
epochs = 2
optimizer = "adam"
lr = 0.001
[arms.quick]
train_subset = 64
epochs = 1
[arms.reported]
test_accuracy = 75.0
[arms.reported.by_resolution.TOTV.32]
test_accuracy = 75
per_class = { circle = { accuracy = 71.6 }, square = { accuracy = 82.3 } }
[arms.reported.by_resolution.TOTV.16]
test_accuracy = 41
per_class = { circle = { accuracy = 44.6 }, square = { accuracy = 28.3 } }
[arms.reported.by_resolution.TVTV.16]
test_accuracy = 70
'''


def resolution_lesson(folders: dict[str, Path]):
    """The resolution-lab lesson file and a shipped quick result of it (one seed)."""
    from cnnkit.lessons import ArmResult, LessonResult, metric_summary, ship_result

    (folders["data"] / "lessons" / f"{RESOLUTION_ID}.toml").write_text(RESOLUTION_TOML)
    cells = {"TOTV": {"32": 90.0, "16": 60.0}, "TVTV": {"32": 90.0, "16": 85.0}}
    by_resolution = {method: {res: {"test_accuracy": metric_summary([acc]),
                                    "per_class_accuracy": {"circle": acc - 5, "square": acc + 5}}
                              for res, acc in row.items()} for method, row in cells.items()}
    arm = ArmResult(arm_id="lab", seeds=[0], metrics={"test_accuracy": metric_summary([90.0])},
                    by_resolution=by_resolution, classes=["circle", "square"])
    result = LessonResult(lesson_id=RESOLUTION_ID, mode="quick", device="cpu", seeds=[0], arms=[arm], seconds=5.0,
                          status="done")
    return ship_result(result, folder=folders["shipped"] / f"{RESOLUTION_ID}-quick")


TRANSFER_ID = "test-transfer"
TRANSFER_TOML = '''
id = "test-transfer"
title = "Frozen or fine-tuned (test)"
topic = "transfer"
question = "Does fine-tuning beat a frozen backbone?"

[defaults]
dataset = "shapes"
epochs = 3
optimizer = "adam"
lr = 0.001

[[arms]]
id = "head-only"
label = "Head only"
config = { model = { kind = "transfer", source = "efficientnet_lite0", strategy = "head" } }

[[arms]]
id = "fine-tuned"
label = "Last blocks fine-tuned"
config = { model = { kind = "transfer", source = "efficientnet_lite0", strategy = "last:2" } }
'''


def transfer_lesson(folders: dict[str, Path]) -> None:
    (folders["data"] / "lessons" / f"{TRANSFER_ID}.toml").write_text(TRANSFER_TOML)
