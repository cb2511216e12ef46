"""Privacy on the pages: the class's retention applied once at start, and the teacher's panel (what is kept
about a student, where and for how long; export one student; erase one student after a confirmation).

The rules live in cnnkit.classroom.student_data: erasing is refused there unless `teacher` is true, so this
panel (shown to the teacher only) is never the only check."""

from __future__ import annotations

import sys

import pandas as pd
import streamlit as st

import cnnkit.labs  # noqa: F401  registers runs, datasets and labs as student data
import cnnkit.lessons  # noqa: F401  registers lesson predictions as student data
from cnnkit.classroom import GUEST, NotAllowed
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.student_data import (StudentBusy, erase_student, export_file_name, export_student,
                                           known_students, privacy_rows, retention, student_data)
from cnnkit.jobs import get_job_manager
from cnnkit.paths import checkpoint_dir, data_dir
from ui.datasets import forget_datasets
from ui.identity import class_config, is_teacher


@st.cache_resource(show_spinner=False)
def retention_at_start() -> dict:
    """cnnlab.toml's [privacy] retention_days applied once per server process (its first page view)."""
    days = class_config().retention_days
    try:
        result = retention(days)
    except (ValueError, OSError) as error:  # retention runs before every page: it must not take them down
        print(f"CNN Lab retention ({days} days) did not run: {error}", file=sys.stderr)
        return {"days": days, "dry_run": False, "removed": [], "kept": [], "errors": [str(error)]}
    if result["removed"] or result["errors"]:
        print(f"CNN Lab retention ({days} days): removed {len(result['removed'])} item(s)"
              + (f"; could not remove {len(result['errors'])}: {result['errors'][0]}" if result["errors"] else ""),
              file=sys.stderr)
    return result


def _cancel_queued_jobs(owner: str) -> None:
    manager = get_job_manager()
    for job in manager.active():
        if same_person(job.owner, owner) and job.status == "queued":
            manager.cancel(job.job_id, by=GUEST, teacher=is_teacher())


def render_teacher_privacy() -> None:
    """The teacher's privacy panel; nothing for anyone else."""
    if not is_teacher():
        return
    with st.expander("Privacy: what CNN Lab keeps about students", expanded="pv_done" in st.session_state):
        if "pv_done" in st.session_state:
            st.success(st.session_state.pop("pv_done"))
        st.caption("Student data stays on this server: pages load nothing from other hosts and no usage "
                   "statistics are sent. Erasing removes every file listed; it cannot be undone.")
        st.dataframe(pd.DataFrame(privacy_rows(class_config().retention_days)), hide_index=True, width="stretch")
        st.text(f"Data folder: {data_dir()}\nCheckpoint folder: {checkpoint_dir()}")
        students = known_students()
        if not students:
            st.caption("Nothing is stored of any named student yet.")
            return
        owner = st.selectbox("Student", students, key="pv_student")
        data = student_data(owner, teacher=True)
        # one row per item, as plain cells (a dataframe shows text as text, never markdown or raw JSON)
        st.dataframe(pd.DataFrame(data.rows(), columns=["kind", "item", "busy"]), hide_index=True, width="stretch")
        st.download_button("Export this student's data (zip)", data=lambda: export_student(owner, teacher=True)[0],
                           file_name=export_file_name(owner), mime="application/zip", key="pv_export")
        sure = st.checkbox("Yes, erase everything listed above", key="pv_sure")
        if st.button("Erase this student", key="pv_erase", disabled=not sure, type="primary"):
            try:
                _cancel_queued_jobs(owner)  # they would make new runs of theirs after the erase
                result = erase_student(owner, teacher=is_teacher())
            except (NotAllowed, StudentBusy, ValueError) as exc:
                st.error(str(exc))
                return
            forget_datasets()
            if result["errors"]:
                st.warning(f"Erased {len(result['removed'])} item(s). Could not remove: " + "; ".join(result["errors"]))
                return
            st.session_state["pv_done"] = f"Erased {len(result['removed'])} item(s)."
            st.session_state.pop("pv_sure", None)
            st.rerun()
