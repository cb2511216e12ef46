"""Class board: for one dataset, everyone's best run side by side (owner, settings, test accuracy)."""

import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.classroom import board_rows
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import owner_label
from cnnkit.paths import demo_runs_dir
from ui.class_admin import render_class_admin
from ui.identity import current_owner
from ui.privacy import render_teacher_privacy
from ui.shell import ensure_app_shell

ensure_app_shell()

st.title("Class board")
st.caption("Everyone's best finished run on one dataset, best first: who got there, and with which settings.")
render_class_admin()  # teacher sessions: join links with QR codes, claimed names, stop any running job
render_teacher_privacy()  # the teacher only: what is kept about students; export, erase
runs = [r for r in store.list_runs() if r.test_accuracy is not None]
datasets = sorted({r.dataset for r in runs})
if not datasets:
    st.info("No finished runs yet: train one in the Training runner and it shows up here. "
            "Until then, the shipped demo runs show what the board looks like (and what to beat).")
    demos = [r for r in store.list_runs(demo_runs_dir()) if r.test_accuracy is not None]
    for dataset in sorted({r.dataset for r in demos}):
        rows = [{**row, "owner": "demo"} for row in board_rows(demos, dataset)]
        st.markdown(f"**{dataset}**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
            "test acc": st.column_config.ProgressColumn("test acc", format="%.3f", min_value=0, max_value=1)})
    st.stop()
dataset = st.selectbox("Dataset", datasets, key="cb_dataset")
# Lessons come later: a lesson filter will pass `where=` to board_rows (e.g. the run's lesson id).
rows = board_rows(runs, dataset)
me = current_owner()
table = pd.DataFrame(rows)
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"test acc": st.column_config.ProgressColumn("test acc", format="%.3f", min_value=0,
                                                                         max_value=1)})
mine = [r for r in rows if r["owner"] == owner_label(me, "guest") or (me and same_person(r["owner"], me))]
if mine:
    st.caption(f"Your best run is number {mine[0]['rank']} of {len(rows)}.")
