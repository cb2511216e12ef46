"""cnnkit: the engine behind CNN Lab. Data, models, training, evaluation and explanations.

It never imports streamlit: everything here works headless, from the CLI or a notebook.
"""

__version__ = "0.1.0"

# OpenMP (libgomp, bundled with torch) reads its wait policy once, when torch loads it. Every way into the
# engine (CLI, the app's pages, worker processes, notebooks) imports this package before torch, so this is the
# one place that can still set it: a short spin instead of libgomp's long one (cnnkit.threads, issue 24).
# Nothing changes when torch is already loaded or the user set OMP_WAIT_POLICY / GOMP_SPINCOUNT;
# CNNKIT_OMP_WAIT=default keeps OpenMP's own.
from cnnkit.threads import set_openmp_wait_env as _set_openmp_wait_env  # noqa: E402

try:
    _set_openmp_wait_env()
except ValueError as _error:  # a bad CNNKIT_OMP_WAIT must not stop the import; OpenMP keeps its default
    import warnings as _warnings

    _warnings.warn(str(_error), stacklevel=2)
