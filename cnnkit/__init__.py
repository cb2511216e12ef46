"""cnnkit: the engine behind CNN Lab. Data, models, training, evaluation and explanations.

It never imports streamlit: everything here works headless, from the CLI or a notebook.
"""

__version__ = "0.1.0"
