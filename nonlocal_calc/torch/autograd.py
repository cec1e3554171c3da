"""The ``torch.autograd.Function`` classes every generated module defines (a fixed text, :data:`FUNCTIONS`).

``Activation`` (forward f(x), backward ``grad * D_mu f(x)``) and ``Derivative`` (forward D_mu f(x), backward
``d/dx D_mu f`` and ``d/ddelta D_mu f``): the activation's backward calls the derivative's Function, so that
double backward and gradients with respect to delta (which the forward f does not depend on: they come from
the backward, e.g. a penalty on gradients) follow the derived formulas. Both use ``setup_context`` and
``generate_vmap_rule = True`` (``torch.func.grad``, ``vmap``, ``torch.compile``; they are module-level classes
of the generated module, which Dynamo traces without a graph break). float16 and bfloat16 inputs are computed
in float32 and cast back (the value's quadrature of a sign-changing f' in float64: see ``_wide``). In eager
mode, large tensors are evaluated in blocks of 128 KB (``_blocks``).
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


class Derivative(torch.autograd.Function):
    """Forward D_mu f(x, delta); backward d/dx and d/ddelta of it. ``order``: nodes per panel of the quadrature
    (an int, ``order_for(delta)`` for a number delta; None: ORDER, the largest planned)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, delta, order=None):
        xc = _up(x)
        return _blocks(value, xc, delta.to(xc.dtype), order).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.order = inputs[2] if len(inputs) > 2 else None

    @staticmethod
    def backward(ctx, grad):
        x, delta = ctx.saved_tensors
        xc = _up(x)
        dx, dd = _blocks(derivs, xc, delta.to(xc.dtype), ctx.order)
        gx = grad * dx.to(grad.dtype) if ctx.needs_input_grad[0] else None
        gd = (grad * dd.to(grad.dtype)).sum_to_size(delta.shape).to(delta.dtype) if ctx.needs_input_grad[1] else None
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
        return grad * Derivative.apply(x, delta, ctx.order), None, None
'''
