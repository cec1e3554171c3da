"""The ``torch.autograd.Function`` classes every generated module defines (a fixed text, :data:`FUNCTIONS`).

``Activation`` (forward f(x), backward ``grad * D_mu f(x)``) and ``Derivative`` (forward D_mu f(x), backward
``d/dx D_mu f`` and ``d/ddelta D_mu f``): the activation's backward calls the derivative's Function, so that
double backward and gradients with respect to delta (which the forward f does not depend on: they come from
the backward, e.g. a penalty on gradients) follow the derived formulas. Both use ``setup_context`` and
``generate_vmap_rule = True`` (``torch.func.grad``, ``vmap``, ``torch.compile``; they are module-level classes
of the generated module, which Dynamo traces without a graph break). float16 and bfloat16 inputs are computed
in float32 and cast back.
"""

FUNCTIONS = '''
_LOW = (torch.float16, torch.bfloat16)


def _up(t):
    """float16 and bfloat16 computed in float32."""
    return t.float() if t.dtype in _LOW else t


class Derivative(torch.autograd.Function):
    """Forward D_mu f(x, delta); backward d/dx and d/ddelta of it. ``order``: nodes per panel of the quadrature
    (an int, ``order_for(delta)`` for a number delta; None: ORDER, the largest planned)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, delta, order=None):
        xc = _up(x)
        return value(xc, delta.to(xc.dtype), order).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.order = inputs[2] if len(inputs) > 2 else None

    @staticmethod
    def backward(ctx, grad):
        x, delta = ctx.saved_tensors
        xc = _up(x)
        dx, dd = derivs(xc, delta.to(xc.dtype), ctx.order)
        gx = grad * dx.to(grad.dtype) if ctx.needs_input_grad[0] else None
        gd = (grad * dd.to(grad.dtype)).sum_to_size(delta.shape).to(delta.dtype) if ctx.needs_input_grad[1] else None
        return gx, gd, None


class Activation(torch.autograd.Function):
    """Forward f(x); backward grad * D_mu f(x, delta) (delta: the forward does not depend on it); ``order`` as
    for :class:`Derivative`."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, delta, order=None):
        return activation(_up(x)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.order = inputs[2] if len(inputs) > 2 else None

    @staticmethod
    def backward(ctx, grad):
        x, delta = ctx.saved_tensors
        return grad * Derivative.apply(x, delta, ctx.order), None, None
'''
