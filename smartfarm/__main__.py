from smartfarm.cli import main

raise SystemExit(main())
