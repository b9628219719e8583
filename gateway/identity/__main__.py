from gateway.identity.cli import main

raise SystemExit(main())
