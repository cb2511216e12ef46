"""cnnkit.labs: multi-run experiments of the course (the resolution lab: TOTV vs TVTV), saved under
checkpoint_dir()/labs with a registry of lab kinds so one listing shows every kind."""

from cnnkit.labs.resolution import (  # importing it registers the "resolution" kind
    LabPlan,
    PlannedTest,
    PlannedTraining,
    ResolutionLabConfig,
    ResolutionLabResult,
    ResolutionRow,
    estimate_lab,
    lab_is_training,
    network_views,
    resume_resolution_lab,
    run_resolution_lab,
    submit_lab_resume,
    train_lab_model,
)
from cnnkit.labs import student_data as _student_data  # noqa: F401  registers "labs" as student data
from cnnkit.labs.saved import (
    LAB_KINDS,
    DamagedLab,
    LabKind,
    SavedLab,
    delete_lab,
    find_lab,
    labs_dir,
    list_labs,
    load_lab,
    register_lab_kind,
    save_lab,
)

__all__ = ["DamagedLab", "LAB_KINDS", "LabKind", "LabPlan", "PlannedTest", "PlannedTraining", "ResolutionLabConfig",
           "ResolutionLabResult", "ResolutionRow", "SavedLab", "delete_lab", "estimate_lab", "find_lab", "lab_is_training", "labs_dir", "list_labs",
           "load_lab", "network_views", "register_lab_kind", "resume_resolution_lab", "run_resolution_lab",
           "save_lab", "submit_lab_resume", "train_lab_model"]
