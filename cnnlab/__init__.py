"""CNN Lab as installed with pip: the `cnn-lab` command (cnnlab.launcher). In a wheel, cnnlab/app/ holds the
Streamlit app (app.py, pages/, ui/, .streamlit/config.toml); in the repository they stay at the root (setup.py)."""
