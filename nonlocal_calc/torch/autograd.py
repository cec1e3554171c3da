"""The ``torch.autograd.Function`` classes every generated module defines (a fixed text, :data:`FUNCTIONS`).

``Activation`` (forward f(x), backward ``grad * D_mu f(x)``) and ``Derivative`` (forward D_mu f(x), backward
``d/dx D_mu f`` and ``d/ddelta D_mu f``): the activation's backward calls the derivative's Function, so that
double backward and gradients with respect to delta (which the forward f does not depend on: they come from
the backward, e.g. a penalty on gradients) follow the derived formulas. Both use ``setup_context`` and
``generate_vmap_rule = True`` (``torch.func.grad``, ``vmap``, ``torch.compile``; they are module-level classes
of the generated module, which Dynamo traces without a graph break). float16 and bfloat16 inputs are computed
in float32 and cast back (the value's quadrature of a sign-changing f' in float64: see ``_wide``).

In eager mode without autograd recording, tensors of ``FUSE_MIN`` (2^16) elements or more are evaluated by a
``torch.compile``'d copy of the same printed functions (``_fused``: one fused loop where eager torch makes a
pass over memory per operation; compiled once per module, dtype and order, with dynamic sizes), unless
``NLC_TORCH_FUSE=0`` is set; under ``torch.compile``, ``torch.func`` transforms, while autograd records (a
backward with ``create_graph=True``), for smaller tensors, on the devices of ``_EAGER_DEVICES`` and after a
compile error (a warning, once per module), large tensors are evaluated in blocks of 128 KB (``_blocks``).
"""

FUNCTIONS = '''
_LOW = (torch.float16, torch.bfloat16)


def _up(t):
    """float16 and bfloat16 computed in float32."""
    return t.float() if t.dtype in _LOW else t


#: Eager evaluation of large tensors goes in blocks of this many bytes: every operation of the printed formulas
#: allocates its result, and a fresh allocation of megabytes costs more than the arithmetic (the allocator
#: returns it to the system and takes it back page by page), while blocks of 128 KB are reused (the block sizes
#: measured are in docs/dev/performance.md).
BLOCK_BYTES = 1 << 17


def _wrapped(t):
    """Whether t is a tensor of torch.func's transforms (vmap, grad), which are evaluated whole."""
    check = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return True if check is None else check(t)


def _blocks(fn, x, *args):
    """``fn(x, *args)`` (a tensor or a tuple of tensors of x's shape), block by block in eager mode without
    autograd recording, for a contiguous x and number-like other arguments; otherwise in one call."""
    step = max(1024, BLOCK_BYTES // x.element_size())
    n = x.numel()
    if (n <= 4 * step or torch.is_grad_enabled() or torch.compiler.is_compiling() or not x.is_contiguous()
            or _wrapped(x) or any(isinstance(a, torch.Tensor) and (a.numel() != 1 or a.dim() > x.dim())
                                  for a in args)):
        return fn(x, *args)
    flat = x.reshape(-1)
    first = fn(flat[:step], *args)
    single = isinstance(first, torch.Tensor)
    first = (first,) if single else first
    outs = tuple(torch.empty(n, dtype=f.dtype, device=f.device) for f in first)
    for o, f in zip(outs, first):
        o[:step] = f
    for i in range(step, n, step):
        part = fn(flat[i:i + step], *args)
        for o, f in zip(outs, (part,) if single else part):
            o[i:i + step] = f
    outs = tuple(o.reshape(x.shape) for o in outs)
    return outs[0] if single else outs


#: Eager evaluation without autograd recording of tensors of at least this many elements runs the printed
#: functions compiled by torch.compile (one fused loop instead of a pass over memory per operation; the first
#: call of each dtype compiles, seconds to a minute). The environment variable NLC_TORCH_FUSE=0 (read at each
#: call) turns it off; so does setting this to a larger number.
FUSE_MIN = 1 << 16

#: Devices on which this module stays eager (its generator sets it: on CPU, where the formulas call erf or erfc,
#: which torch.compile evaluates 4-5 times slower than eager torch; times in docs/dev/performance.md).
_EAGER_DEVICES = ()

#: The compiled functions (by the printed function they compile) and the reason of a compile error, after which
#: this module evaluates in eager mode.
_FUSED = {}
_FUSE_FAILED = []


def _fusing(x, *args):
    """Whether to evaluate x (and args: delta, the incoming gradient) by a compiled function: eager mode, no
    autograd recording, no torch.func transform, at least FUSE_MIN elements, a device not in _EAGER_DEVICES, not
    switched off, no compile error before."""
    return (not torch.compiler.is_compiling() and not torch.is_grad_enabled() and not _FUSE_FAILED
            and x.numel() >= FUSE_MIN and x.device.type not in _EAGER_DEVICES
            and os.environ.get("NLC_TORCH_FUSE", "1").strip().lower() not in ("0", "false", "no", "off")
            and not any(isinstance(a, torch.Tensor) and _wrapped(a) for a in (x, *args)))


def _fused(fn, *args):
    """``fn(*args)`` compiled by ``torch.compile`` (``fullgraph``; ``dynamic``: sizes do not recompile, dtypes
    and orders do); None after an error of the compilation or of the compiled call, which is warned about once
    and turns this module's compiled evaluation off (the caller evaluates in eager mode)."""
    compiled = _FUSED.get(fn)
    if compiled is None:
        compiled = _FUSED[fn] = torch.compile(fn, dynamic=True, fullgraph=True)
    try:
        return compiled(*args)
    except Exception as e:  # (a missing C++ compiler, an unsupported device...: the eager path still works)
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        _FUSE_FAILED.append(reason)
        warnings.warn(f"nonlocal_calc.torch: torch.compile of the fused evaluation of {__name__} failed ({reason});"
                      f" evaluating in eager mode from now on (set NLC_TORCH_FUSE=0 to skip the attempt)",
                      RuntimeWarning, stacklevel=3)
        return None


def _value_of(x, delta, order):
    """D_mu f(x) in x's dtype (float16, bfloat16 computed in float32): the forward of Derivative."""
    xc = _up(x)
    return value(xc, delta.to(xc.dtype), order).to(x.dtype)


def _grad_value(grad, x, delta, order):
    """grad * D_mu f(x): the backward of Activation."""
    return grad * _value_of(x, delta, order)


def _grad_derivs(grad, x, delta, order):
    """grad * d/dx D_mu f(x) and grad * d/ddelta D_mu f(x) (before the sum to delta's shape): the backward of
    Derivative."""
    xc = _up(x)
    dx, dd = derivs(xc, delta.to(xc.dtype), order)
    return grad * dx.to(grad.dtype), grad * dd.to(grad.dtype)


class Derivative(torch.autograd.Function):
    """Forward D_mu f(x, delta); backward d/dx and d/ddelta of it. ``order``: nodes per panel of the quadrature
    (an int, ``order_for(delta)`` for a number delta; None: ORDER, the largest planned)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, delta, order=None):
        if _fusing(x, delta):  # (a forward never records: fused whenever the tensor is large)
            v = _fused(_value_of, x, delta, order)
            if v is not None:
                return v
        xc = _up(x)
        return _blocks(value, xc, delta.to(xc.dtype), order).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.order = inputs[2] if len(inputs) > 2 else None

    @staticmethod
    def backward(ctx, grad):
        x, delta = ctx.saved_tensors
        both = _fused(_grad_derivs, grad, x, delta, ctx.order) if _fusing(x, delta, grad) else None
        if both is None:
            xc = _up(x)
            dx, dd = _blocks(derivs, xc, delta.to(xc.dtype), ctx.order)
            both = (grad * dx.to(grad.dtype), grad * dd.to(grad.dtype))
        gx = both[0] if ctx.needs_input_grad[0] else None
        gd = both[1].sum_to_size(delta.shape).to(delta.dtype) if ctx.needs_input_grad[1] else None
        return gx, gd, None


class Activation(torch.autograd.Function):
    """Forward f(x); backward grad * D_mu f(x, delta) (delta: the forward does not depend on it); ``order`` as
    for :class:`Derivative`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, delta, order=None):
        return _blocks(activation, _up(x)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.order = inputs[2] if len(inputs) > 2 else None

    @staticmethod
    def backward(ctx, grad):
        x, delta = ctx.saved_tensors
        if _fusing(x, delta, grad):  # (with create_graph=True the backward records: Derivative's, below)
            g = _fused(_grad_value, grad, x, delta, ctx.order)
            if g is not None:
                return g, None, None
        return grad * Derivative.apply(x, delta, ctx.order), None, None
'''
