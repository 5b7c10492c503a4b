"""`python -m ebtheory.cli`: the same as the `ebtheory` console script."""

from ebtheory.cli import main

raise SystemExit(main())
