"""Code for array frameworks (PyTorch, JAX) printed from a derivation, shared by their backends.

Nothing here imports a framework: these modules write text. The pieces are the same for every framework, and
each backend (:mod:`nonlocal_calc.torch`, :mod:`nonlocal_calc.jax`) supplies the dialect its text is written
in and what its module does with the printed functions (autograd Functions, custom JVP rules):

* :mod:`.printer`: ``TensorCodePrinter``, SymPy -> elementwise array operations, with a dialect per framework;
* :mod:`.source`: the printed functions of a pair (f, f' and f'' piece by piece, the Gauss-Legendre
  quadrature of the value and of its derivatives, the stable closed form);
* :mod:`.orders`: the quadrature orders planned per horizon and dtype, and the on-disk cache of the modules.
"""
