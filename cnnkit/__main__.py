# OpenMP reads its wait policy once, when torch loads it: set it first (cnnkit.threads; the user's own wins).
from cnnkit.threads import set_openmp_wait_env

set_openmp_wait_env()

from cnnkit.cli import main  # noqa: E402  (after the OpenMP environment on purpose)

raise SystemExit(main())
