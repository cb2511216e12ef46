from cnnkit.cli import main

raise SystemExit(main())
