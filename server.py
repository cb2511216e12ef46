"""CNN Lab's server: the app (app.py) with the teacher-cookie route beside it (ui/teacher_cookie.py), so the
teacher's session cookie is set by the server, HttpOnly, out of page scripts' reach.

    streamlit run server.py        # as `streamlit run app.py`, plus the route (Streamlit finds `app` here)
"""

import streamlit as st

from ui.teacher_cookie import MOUNTED, routes

app = st.App("app.py", routes=routes())
MOUNTED["route"] = True   # the pages (same process) send the browser through the route
