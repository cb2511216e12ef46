"""Home: the first screen of a class. What the class can do today (pinned runs, trained demos, every page),
never an empty form. Each section is one call into ui/home.py."""

import streamlit as st

from ui.home import render_demos, render_page_tour, render_pinned, render_setup, render_start_here
from ui.lessons_home import render_course_section
from ui.shell import ensure_app_shell

ensure_app_shell()

st.title("CNN Lab")
st.markdown("An interactive lab for learning how **convolutional neural networks** work: explore a dataset, "
            "build a network layer by layer, train it live, compare settings, and see what a trained network "
            "computes and where it looks.")
render_start_here()
render_course_section()  # the course: lessons with shipped results (ui/lessons_home.py)
render_pinned()
render_demos()
render_page_tour()
render_setup()
