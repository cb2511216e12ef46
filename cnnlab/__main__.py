"""`python -m cnnlab`: the same as `cnn-lab`."""

from cnnlab.launcher import main

raise SystemExit(main())
