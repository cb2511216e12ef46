"""The classroom: who is who, what a class may run, who may do what, and the class board.

A base-layer package: it reads plain attributes of runs, jobs and training configs (duck-typed), so
the job manager below the pages and the CLI can all apply the same rules without importing upward.

- `config`: the teacher's server config file `cnnlab.toml` (limits, pages, teacher password).
- `permissions`: who may delete a run or cancel a job; teacher sign-in.
- `board`: everyone's best runs side by side; runs of one owner.
- `pins`: what the teacher pinned to the Home page.
"""

from cnnkit.classroom.board import board_rows, best_runs_by_owner, runs_of
from cnnkit.classroom.config import (CONFIG_ENV, ClassroomConfig, OverLimit, check_run_allowed,
                                     load_classroom_config)
from cnnkit.classroom.permissions import (GUEST, NotAllowed, check_may_cancel, check_may_delete, clean_owner_name,
                                          is_teacher_password, may_cancel, may_delete)
from cnnkit.classroom.pins import load_pins, pin, unpin

__all__ = ["CONFIG_ENV", "GUEST", "ClassroomConfig", "NotAllowed", "OverLimit", "best_runs_by_owner", "board_rows",
           "check_may_cancel", "check_may_delete", "check_run_allowed", "clean_owner_name", "is_teacher_password",
           "load_classroom_config", "load_pins", "may_cancel", "may_delete", "pin", "runs_of", "unpin"]
