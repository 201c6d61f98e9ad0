from optical.cli import main

raise SystemExit(main())
