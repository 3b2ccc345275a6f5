from dcmstruct.cli import main

raise SystemExit(main())
