"""Collection rules for the whole repository: the optional subpackages' doctests need their frameworks."""

import importlib.util

# nonlocal_calc.torch needs PyTorch (the [torch] extra): without it, its doctests are not collected.
collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["nonlocal_calc/torch/*"]
