"""cnnkit.labs: multi-run experiments of the course (the resolution lab: TOTV vs TVTV)."""

from cnnkit.labs.resolution import (
    LabPlan,
    PlannedTest,
    PlannedTraining,
    ResolutionLabConfig,
    ResolutionLabResult,
    ResolutionRow,
    delete_lab,
    labs_dir,
    list_labs,
    load_lab,
    network_views,
    run_resolution_lab,
)

__all__ = ["LabPlan", "PlannedTest", "PlannedTraining", "ResolutionLabConfig", "ResolutionLabResult", "ResolutionRow",
           "delete_lab", "labs_dir", "list_labs", "load_lab", "network_views", "run_resolution_lab"]
