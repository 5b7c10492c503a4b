"""`python -m ebtheory`: the same as the `ebtheory` console script."""

from ebtheory.cli import main

raise SystemExit(main())
