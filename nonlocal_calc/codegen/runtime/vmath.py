"""Branch-free ``exp`` and ``log`` for compiled loops that LLVM should vectorize.

``math.exp`` and ``math.log`` are calls into libm, which stop LLVM from vectorizing a loop; these are written with
arithmetic and selects only. ``_vexp64``/``_vlog64`` are accurate to about 1 ulp in float64, ``_vexp32``/``_vlog32``
in float32; ``_vexp``, ``_vlog`` dispatch on the type of their argument and ``_vlog1p`` restores the bits that
``1 + u`` loses. Generated modules contain this source (see :mod:`nonlocal_calc.codegen.runtime`).
"""

import math

import numba
import numpy as np


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp64(x):
    """exp(x), float64, branch-free (vectorizes): Cody-Waite reduction, degree-13 Taylor, scale by 2^k in two steps."""
    xc = min(max(x, -746.0), 710.0)
    k = math.floor(xc * 1.4426950408889634 + 0.5)
    r = (xc - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    p = ((((((((((((r * 1.6059043836821613e-10 + 2.08767569878681e-09) * r + 2.505210838544172e-08) * r
         + 2.755731922398589e-07) * r + 2.7557319223985893e-06) * r + 2.48015873015873e-05) * r
         + 0.0001984126984126984) * r + 0.001388888888888889) * r + 0.008333333333333333) * r
         + 0.041666666666666664) * r + 0.16666666666666666) * r + 0.5) * r + 1.0) * r + 1.0
    ki = np.int64(k)
    k1 = ki >> 1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - k1 + 1023) << 52).view(np.float64)
    v = p * s1 * s2
    return x if x != x else v


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp32(x):
    """exp(x), float32, branch-free: degree-7 Taylor after Cody-Waite reduction."""
    xc = min(max(x, np.float32(-104.0)), np.float32(89.0))
    k = math.floor(xc * np.float32(1.442695) + np.float32(0.5))
    r = (xc - k * np.float32(0.693145751953125)) - k * np.float32(1.4286067653e-06)
    p = (((((((r * np.float32(0.0001984127) + np.float32(0.0013888889)) * r + np.float32(0.008333334)) * r
         + np.float32(0.041666668)) * r + np.float32(0.16666667)) * r + np.float32(0.5)) * r + np.float32(1.0)) * r
         + np.float32(1.0))
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    s1 = np.int32((k1 + np.int32(127)) << np.int32(23)).view(np.float32)
    s2 = np.int32((ki - k1 + np.int32(127)) << np.int32(23)).view(np.float32)
    v = p * s1 * s2
    return x if x != x else v


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog64(v):
    """log(v), float64, branch-free: v = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1))."""
    tiny = v < 2.2250738585072014e-308
    vs = v * 1.8014398509481984e16 if tiny else v
    bits = np.float64(vs).view(np.int64)
    e = ((bits >> 52) & 0x7FF) - 1023 - (54 if tiny else 0)
    m = np.int64((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (m + 1.0)
    z = s * s
    q = (((((((((z * 0.09523809523809523 + 0.10526315789473684) * z + 0.11764705882352941) * z
         + 0.13333333333333333) * z + 0.15384615384615385) * z + 0.18181818181818182) * z + 0.2222222222222222) * z
         + 0.2857142857142857) * z + 0.4) * z + 0.6666666666666666) * z
    ef = np.float64(e)
    r = ef * 0.6931471803691238 + (f - s * (f - q)) + ef * 1.9082149292705877e-10
    r = -np.inf if v == 0.0 else r
    r = np.nan if v < 0.0 else r
    r = v if v == np.inf or v != v else r
    return r


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog32(v):
    """log(v), float32, branch-free."""
    tiny = v < np.float32(1.1754944e-38)
    vs = v * np.float32(16777216.0) if tiny else v
    bits = np.float32(vs).view(np.int32)
    e = ((bits >> np.int32(23)) & np.int32(0xFF)) - np.int32(127) - (np.int32(24) if tiny else np.int32(0))
    m = np.int32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000)).view(np.float32)
    big = m > np.float32(1.4142135)
    m = m * np.float32(0.5) if big else m
    e = e + np.int32(1) if big else e
    f = m - np.float32(1.0)
    s = f / (m + np.float32(1.0))
    z = s * s
    q = ((((z * np.float32(0.2222222222) + np.float32(0.2857142857)) * z + np.float32(0.4)) * z
         + np.float32(0.6666666667)) * z)
    ef = np.float32(e)
    r = ef * np.float32(0.693145751953125) + (f - s * (f - q)) + ef * np.float32(1.4286067653e-06)
    r = -np.float32(np.inf) if v == np.float32(0.0) else r
    r = np.float32(np.nan) if v < np.float32(0.0) else r
    r = v if v == np.float32(np.inf) or v != v else r
    return r


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp(x):
    T = type(x)
    if T(1.0) + T(1e-08) == T(1.0):
        return T(_vexp32(np.float32(x)))
    return T(_vexp64(np.float64(x)))


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog(x):
    T = type(x)
    if T(1.0) + T(1e-08) == T(1.0):
        return T(_vlog32(np.float32(x)))
    return T(_vlog64(np.float64(x)))


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog1p(u):
    """log(1 + u) = log(v) + (u - (v - 1))/v with v = 1 + u rounded (the correction restores the lost bits)."""
    T = type(u)
    v = T(1.0) + u
    r = _vlog(v) + (u - (v - T(1.0))) / v
    r = u if abs(u) < T(1e-30) or u == T(math.inf) else r
    return -T(math.inf) if v == T(0.0) else r
