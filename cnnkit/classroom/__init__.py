"""The classroom: who is who, what a class may run, who may do what, and the class board.

A base-layer package: it reads plain attributes of runs, jobs and training configs (duck-typed), so
the job manager below the pages and the CLI can all apply the same rules without importing upward.

- `config`: the teacher's server config file `cnnlab.toml` (limits, import limits, pages, teacher password),
  validated so that it fails closed.
- `gate`: THE check every action that trains or changes a run or dataset goes through (`gate.check`).
- `permissions`: owners and names, who may delete a run or cancel a job.
- `names`: names claimed with a key, so a typed name cannot be borrowed (`release_name`).
- `teacher`: the teacher password (hashed, rate-limited) and teacher sessions.
- `board`: everyone's best runs side by side; runs of one owner.
- `pins`: what the teacher pinned to the Home page.
"""

from cnnkit.classroom.board import board_rows, best_runs_by_owner, runs_of
from cnnkit.classroom.config import (CONFIG_ENV, ClassroomConfig, ConfigError, ImportLimits, OverLimit,
                                     check_run_allowed, hash_password, import_limits, load_classroom_config)
from cnnkit.classroom.gate import Actor, as_actor
from cnnkit.classroom.names import NAME_TAKEN, NameTaken, claimed_names, release_name, use_name
from cnnkit.classroom.permissions import (CLI_OWNER, GUEST, NotAllowed, check_may_cancel, check_may_delete,
                                          clean_owner_name, is_teacher_password, may_cancel, may_delete)
from cnnkit.classroom.pins import load_pins, pin, unpin

__all__ = ["CLI_OWNER", "CONFIG_ENV", "GUEST", "NAME_TAKEN", "Actor", "ClassroomConfig", "ConfigError",
           "ImportLimits", "NameTaken", "NotAllowed", "OverLimit", "as_actor", "best_runs_by_owner", "board_rows",
           "check_may_cancel", "check_may_delete", "check_run_allowed", "claimed_names", "clean_owner_name",
           "hash_password", "import_limits", "is_teacher_password", "load_classroom_config", "load_pins",
           "may_cancel", "may_delete", "pin", "release_name", "runs_of", "unpin", "use_name"]
