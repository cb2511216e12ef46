"""A lesson's arm opened in another page with its settings loaded: the Training runner (its TrainConfig), the
Resolution lab (its lab settings), Transfer learning (its backbone and dataset), and the Grad-CAM viewer or
Inside the network (the model our run of that arm trained). Values are checked against the target's options
first; a button that cannot work is greyed out with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import streamlit as st

from cnnkit import store
from cnnkit.models.pretrained import list_pretrained
from ui.datasets import available_dataset_names
from ui.page_handoff import hand_off

TRAINING_RUNNER_LOAD = "tr_load_settings"   # the Training runner's own "load these settings" key (pages/training_runner.py)


def _arm_run_dir(result, arm_id: str) -> Optional[Path]:
    """The folder of our first finished run of this arm (shipped results have none on a fresh install)."""
    ours = result.arm(arm_id) if result is not None else None
    for run_id in (ours.run_ids if ours else []):
        try:
            run_dir = store.run_dir_of_id(run_id)
        except (ValueError, FileNotFoundError):
            continue
        if (run_dir / "best.pt").is_file() or (run_dir / "last.pt").is_file():
            return run_dir
    return None


def lesson_arm_settings(lesson_id: str, arm_id: Optional[str] = None, mode: str = "quick") -> dict:
    """{"config", "source"} of a lesson's arm (the first without `arm_id`) for the Training runner's form; KeyError
    or ValueError saying what is wrong (an unknown lesson, arm or mode, a resolution-lab arm)."""
    from cnnkit import lessons

    lesson = lessons.get_lesson(lesson_id)
    arm = lesson.arm(arm_id) if arm_id else lesson.arms[0]
    if arm.kind != "train":
        raise ValueError(f"arm {arm.id!r} is a resolution lab: open it in the Resolution lab")
    settings = lesson.arm_config(arm, mode).to_dict()
    return {"config": {**settings, "name": ""}, "source": f"lesson {lesson.title}, arm {arm.label} ({mode})"}


def _is_transfer(settings: dict) -> bool:
    return isinstance(settings.get("model"), dict) and settings["model"].get("kind") == "transfer"


def render_open_buttons(lesson, result, mode: Optional[str] = None) -> None:
    """One row of buttons for the chosen arm."""
    st.subheader("Open an arm in another page")
    labels = {arm.id: arm.label for arm in lesson.arms}
    arm_id = st.selectbox("Arm", list(labels), format_func=labels.get,  # a selectbox shows its options as plain text
                          key=f"ls_open_arm_{lesson.id}")
    arm = lesson.arm(arm_id)
    mode = mode or (result.mode if result is not None else "quick")
    note = f"Lesson {lesson.title}, arm {arm.label} ({mode} settings): change one and try a variation."
    run_dir = _arm_run_dir(result, arm_id)
    no_run = "Run the lesson first: this arm has no trained model of yours here." if run_dir is None else None
    cols = st.columns(4)
    if arm.kind == "resolution_lab":
        if cols[0].button("Resolution lab", key=f"ls_open_rl_{lesson.id}"):
            lab = lesson.arm_config(arm, mode)
            hand_off("pages/resolution_lab.py", {"rl_resolutions": list(lab.resolutions), "rl_mode": lab.mode,
                                                 "rl_native_size": bool(lab.native_size)},
                     note=note, train_settings=("rl", dict(lab.base)))
    else:
        settings = lesson.arm_config(arm, mode).to_dict()
        if cols[0].button("Training runner", key=f"ls_open_tr_{lesson.id}"):
            # The Training runner loads {"config", "source"} itself (its Runs tab's "Use these settings").
            st.session_state[TRAINING_RUNNER_LOAD] = lesson_arm_settings(lesson.id, arm.id, mode)
            st.switch_page("pages/training_runner.py")
        if _is_transfer(settings) and cols[1].button("Transfer learning", key=f"ls_open_tl_{lesson.id}"):
            model = settings["model"]
            values = {}
            if settings.get("dataset") in available_dataset_names():
                values["tl_dataset"] = settings["dataset"]
            if model.get("source") in {info.name for info in list_pretrained(check_network=False)}:
                values.update({"tl_source_kind": "Pretrained on ImageNet", "tl_pretrained": model["source"]})
            strategy = str(model.get("strategy", ""))
            if strategy in ("head", "full", "two-stage") or strategy.startswith("last:"):
                # "last:8" picks the strategy; N stays the page's (its range depends on the backbone)
                values["tl_strategy"] = "last:N" if strategy.startswith("last:") else strategy
                note += f" Strategy {strategy}."
            hand_off("pages/transfer_learning.py", {k: v for k, v in values.items() if v}, note=note,
                     train_settings=("tl", {k: v for k, v in settings.items() if k not in ("model", "dataset")}))
    if cols[2].button("Grad-CAM viewer", key=f"ls_open_gc_{lesson.id}", disabled=run_dir is None, help=no_run):
        hand_off("pages/gradcam_viewer.py", {"gc_model": f"run:{run_dir}"}, note=note)
    if cols[3].button("Inside the network", key=f"ls_open_in_{lesson.id}", disabled=run_dir is None, help=no_run):
        hand_off("pages/inside_network.py", {"in_model": f"run:{run_dir}"}, note=note)


__all__ = ["render_open_buttons"]
