"""The differentiation rules every generated JAX module defines (a fixed text, :data:`FUNCTIONS`).

``nonlocal_activation(x, delta, order=None)`` is f(x) with the JVP ``D_mu f(x) * dx`` (``jax.custom_jvp``), and
``nonlocal_derivative(x, delta, order=None)`` is D_mu f(x) with the JVP ``d/dx D_mu f * dx + d/ddelta D_mu f *
ddelta``, both derived (``derivs``): the activation's rule calls the derivative's, so that second derivatives
(``jax.hessian``, ``jax.grad`` of ``jax.grad``) and derivatives with respect to delta (which the forward f does
not depend on: they come through the derivative, e.g. a penalty on gradients) follow the derived formulas, and
reverse mode (``jax.grad``, ``jax.vjp``) transposes these linear rules. ``order`` is the number of nodes per
panel of the quadrature, a static Python int. float16 and bfloat16 inputs are computed in float32 and cast back.
"""

FUNCTIONS = '''
_LOW = (jnp.float16, jnp.bfloat16)


def _up(t):
    """float16 and bfloat16 computed in float32."""
    return t.astype(jnp.float32) if t.dtype in _LOW else t


def _arrays(x, delta):
    """x and delta as arrays of x's floating type (a number delta too), x broadcast to the shape of both."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x must be an array of floating-point numbers, not {x.dtype}")
    delta = jnp.asarray(delta, dtype=x.dtype)
    shape = jnp.broadcast_shapes(x.shape, delta.shape)
    return (x if x.shape == shape else jnp.broadcast_to(x, shape)), delta


def _derivative_value(x, delta, order):
    xc = _up(x)
    return value(xc, delta.astype(xc.dtype), order).astype(x.dtype)


_derivative_rule = jax.custom_jvp(_derivative_value, nondiff_argnums=(2,))


@_derivative_rule.defjvp
def _derivative_jvp(order, primals, tangents):
    x, delta = primals
    tx, td = tangents
    xc = _up(x)
    dc = delta.astype(xc.dtype)
    dx, dd = derivs(xc, dc, order)
    out = value(xc, dc, order).astype(x.dtype)
    return out, (dx * tx.astype(dx.dtype) + dd * td.astype(dd.dtype)).astype(out.dtype)


def _activation_value(x, delta, order):
    return activation(_up(x)).astype(x.dtype)


_activation_rule = jax.custom_jvp(_activation_value, nondiff_argnums=(2,))


@_activation_rule.defjvp
def _activation_jvp(order, primals, tangents):
    x, delta = primals
    tx, _ = tangents
    return _activation_value(x, delta, order), _derivative_rule(x, delta, order) * tx


def nonlocal_activation(x, delta, order=None):
    """f(x) whose derivative (JVP, gradient) is D_mu f(x) for the horizon delta (a positive number or an array
    broadcastable against x). ``order``: nodes per panel of the quadrature (``order_for(delta)`` for a number
    delta; None: the largest planned for x's dtype)."""
    x, delta = _arrays(x, delta)
    return _activation_rule(x, delta, order)


def nonlocal_derivative(x, delta, order=None):
    """D_mu f(x), whose derivatives in x and delta are d/dx and d/ddelta of D_mu f (``derivs``)."""
    x, delta = _arrays(x, delta)
    return _derivative_rule(x, delta, order)
'''
