"""``python -m nonlocal_calc`` is the ``nonlocal-calc`` command."""

from .cli import main

raise SystemExit(main())
