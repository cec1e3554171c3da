"""Collection rules for the whole repository: the optional subpackages' doctests need their frameworks."""

import importlib.util

# nonlocal_calc.torch needs PyTorch (the [torch] extra), nonlocal_calc.jax needs JAX (the [jax] extra): without
# them, their doctests are not collected.
collect_ignore_glob = [f"nonlocal_calc/{name}/*" for name in ("torch", "jax") if not importlib.util.find_spec(name)]
