"""Buy-till-you-die models fitted by maximum likelihood: Pareto/NBD and BG/NBD.

Each customer is summarised by ``x`` (repeat purchases), ``t_x`` (time of the last purchase, from the first) and
``T`` (time from the first purchase to the end of observation), in any one time unit. The fitters follow
lifelines' naming: ``fit(frequency, recency, T)`` returns ``self``; fitted values end in ``_``; ``summary`` is a
DataFrame.

How the fits stay fast and stable:

- customers with the same ``(x, t_x, T)`` are one group with a weight (CDNOW: 2,357 customers, 1,016 groups);
- parameters are optimised on the log scale with L-BFGS-B from moment-based starting values, inside wide bounds;
  Pareto/NBD's scales as ratios to their shapes (alpha / r, beta / s: the mean rates), which turns the
  likelihood's long shape-scale ridges into axis directions (a third fewer steps on the sample books);
- every likelihood is computed in log space (``gammaln``, ``betaln``, ``logaddexp``). The Pareto/NBD "died between
  t_x and T" term is ``s * int_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du``; its tail integral
  ``G(t) = int_t^inf`` is a Gauss hypergeometric function. After Euler's transformation it becomes
  ``2F1(1, b; r+s+x+1; z)`` with ``0 <= z < 1``: a series of positive terms bounded by ``1/(1-z)``, so it never
  overflows, whatever ``x``. The difference ``G(t_x) - G(T)`` is taken as ``log G(t_x) + log1p(-exp(...))``.

The probability of no purchase within a horizon ``H`` is, for both models, the likelihood of the same history
observed ``H`` longer divided by its likelihood now: ``L(x, t_x, T+H) / L(x, t_x, T)``. Unlike ``1 - p_alive``
it does not call BG/NBD's one-time buyers certainly alive and therefore safest.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import special

from .fitting import LOG_BOUND, ModelFitError, _Fitter, _grouped, _log_diff, unique_rows

__all__ = ["BGNBD", "ModelFitError", "ParetoNBD", "_Fitter", "_grouped"]


# The tail integral's 2F1 is most of a Pareto/NBD fit. scipy's ufunc releases the GIL, so a long array is shared
# between this thread and up to three more: the same values, in a fraction of the time on several cores.
_SPLIT_FROM = 2048
_PARTS = min(4, os.cpu_count() or 1) if sys.platform != "emscripten" else 1  # no threads in the browser (Lite)
_pool = None


def _hyp2f1(a, b, c, z, parts=None):
    """scipy's 2F1, a long array shared between this thread and ``parts - 1`` others (default: all there are)."""
    a, b, c, z = np.broadcast_arrays(a, b, c, z)
    parts = _PARTS if parts is None else min(parts, _PARTS)
    if a.size < _SPLIT_FROM or parts < 2:
        return special.hyp2f1(a, b, c, z)
    flat = [v.ravel() for v in (a, b, c, z)]
    # interleaved, not in blocks: the slow values (z near 1, small b) sit together in sorted points
    others = [_submit(special.hyp2f1, *(v[k::parts] for v in flat)) for k in range(1, parts)]
    out = np.empty(a.size)
    out[0::parts] = special.hyp2f1(*(v[0::parts] for v in flat))
    for k, part in enumerate(others, start=1):
        out[k::parts] = part.result() if part is not None else special.hyp2f1(*(v[k::parts] for v in flat))
    return out.reshape(a.shape)


def _submit(work, *args):
    """``work(*args)`` started on a pool thread (a future), or None where threads are unavailable (then this
    process uses one thread from now on)."""
    global _pool, _PARTS
    if _PARTS < 2:
        return None
    try:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_PARTS - 1, thread_name_prefix="relhealth-2f1")
        return _pool.submit(work, *args)
    except RuntimeError:  # threads unavailable here after all
        _PARTS = 1
        return None


# Near z = 1 with a small c - b, scipy's 2F1 sums its series term by term: 30 us a value at z = 0.999, and most of a
# fit's time goes on the one-time and few-time buyers there. For a = 1 the function is an incomplete beta,
#   2F1(1, b; c; z) = (c-1) z^(1-c) (1-z)^(c-b-1) B_z(c-1, 1+b-c),
# which scipy's betainc gives in well under a microsecond once its second parameter is raised into (0, 1]; the
# recurrence B_z(A, v) = (z^A (1-z)^v - (A+v) B_z(A, v+1)) / -v brings it back down. Checked against mpmath: at
# least as accurate as scipy's 2F1 there, wherever the recurrence's error growth stays under _BETA_GROWTH.
_BETA_FROM_Z = 0.9
_BETA_STEPS = 12
_BETA_GROWTH = 100.0


def _hyp2f1_one(b, c, z):
    """2F1(1, b; c; z) for 0 <= z < 1 and c > 1: the incomplete beta route where it is fast and accurate, scipy's
    2F1 elsewhere; the same values whether or not threads share the work."""
    shape = np.broadcast_shapes(np.shape(b), np.shape(c), np.shape(z))
    b, c, z = (np.ascontiguousarray(v, dtype=float).ravel() for v in np.broadcast_arrays(b, c, z))
    out = np.empty(b.size)
    lowest = 1.0 + b - c
    steps = np.maximum(np.floor(-lowest) + 1.0, 0.0)
    on_route = (z >= _BETA_FROM_Z) & (steps <= _BETA_STEPS)
    near, rest = np.flatnonzero(on_route), np.flatnonzero(~on_route)

    def route():
        return _by_incomplete_beta(c[near] - 1.0, lowest[near], steps[near], z[near])

    parts = _PARTS if b.size >= _SPLIT_FROM and len(near) else 1
    # one thread takes the route and, spread along the points, enough of scipy's values to finish with the
    # threads sharing the rest (a routed value costs about two of scipy's)
    share = int(np.clip((2 * len(near) + len(rest)) / parts - 2 * len(near), 0, len(rest)))
    taken = np.zeros(len(rest), bool)
    taken[np.linspace(0, len(rest) - 1, share).astype(int)] = True
    with_route, others = rest[taken], rest[~taken]
    beside = _submit(lambda: (route(), special.hyp2f1(1.0, b[with_route], c[with_route], z[with_route]))) \
        if parts > 1 else None
    if beside is None:
        out[rest] = _hyp2f1(1.0, b[rest], c[rest], z[rest])
        routed = route() if len(near) else None
    else:
        out[others] = _hyp2f1(1.0, b[others], c[others], z[others], parts - 1)
        routed, out[with_route] = beside.result()
    if routed is not None:
        value, growth = routed
        good = np.isfinite(value) & (value > 0) & (growth < _BETA_GROWTH)
        out[near[good]] = value[good]
        bad = near[~good]
        if len(bad):
            out[bad] = special.hyp2f1(1.0, b[bad], c[bad], z[bad])
    return out.reshape(shape)


def _by_incomplete_beta(A, lowest, steps, z):
    """(A * B_z(A, lowest) / (z^A (1-z)^lowest), the recurrence's error growth) per value: that ratio is
    2F1(1, b; c; z) with A = c - 1 and lowest = 1 + b - c. ``steps`` raise ``lowest`` into (0, 1]."""
    order = np.argsort(-steps, kind="stable")  # most steps first: the values still stepping are a prefix
    A, lowest, steps, z = A[order], lowest[order], steps[order], z[order]
    top = lowest + steps
    with np.errstate(all="ignore"):
        ratio = np.exp(np.log(special.betainc(A, top, z)) + special.betaln(A, top) - A * np.log(z)
                       - top * np.log1p(-z))  # B_z(A, v) / (z^A (1-z)^v) at v = top
        growth = np.ones_like(ratio)
        for j in range(int(steps.max(initial=0.0)), 0, -1):
            on = slice(0, int(np.searchsorted(-steps, -j, side="right")))
            v = lowest[on] + (j - 1.0)
            y = (A[on] + v) * (1.0 - z[on]) * ratio[on]
            growth[on] *= 1.0 + np.abs(y / (1.0 - y))
            ratio[on] = (1.0 - y) / -v
    value = np.empty_like(ratio)
    value[order], growth[order] = A * ratio, growth.copy()
    return value, growth


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of the parent's threads: it starts its own when it needs one


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _nbd_start(x, T, w):
    """r, alpha of the NBD (no dropout) by moments: used as starting values."""
    rate = max((w @ x) / (w @ T), 1e-6)
    r = 1.0
    return r, r / rate


class ParetoNBD(_Fitter):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): Poisson purchases at rate lambda ~ Gamma(r, alpha),
    exponential lifetime at rate mu ~ Gamma(s, beta)."""

    param_names = ("r", "alpha", "s", "beta")
    _relative_scales = ((1, 0), (3, 2))  # alpha / r and beta / s: the mean purchase and dropout rates
    MAX_S = 20.0  # s -> infinity (with beta / s fixed) means one dropout rate for all: capped, as good as there

    def _start(self, x, t_x, T, w):
        r, alpha = _nbd_start(x, T, w)
        return np.log([r, alpha, 1.0, float(w @ T / w.sum())])

    def _bounds(self):
        bounds = super()._bounds()
        bounds[2] = (-LOG_BOUND, float(np.log(self.MAX_S)))
        return bounds

    @staticmethod
    def _log_tail(pw, qw, alpha, beta, t, repair: bool = False):
        """log int_t^inf (alpha+u)^-pw (beta+u)^-qw du (pw > 0, qw > 1), via 2F1(1, b; pw+qw; z), 0 <= z < 1.

        scipy's 2F1 gives up (NaN) for b in the hundreds with z near 1; there the fit treats the point as outside
        the feasible region, and scoring (``repair=True``) integrates those few values numerically instead."""
        a = pw + qw - 1.0
        la, lb = np.log(alpha + t), np.log(beta + t)
        with np.errstate(divide="ignore", invalid="ignore"):
            if alpha >= beta:
                z = (alpha - beta) / (alpha + t)
                out = -pw * la - (qw - 1.0) * lb - np.log(a) + np.log(_hyp2f1_one(pw, a + 1.0, z))
            else:
                z = (beta - alpha) / (beta + t)
                out = -(pw - 1.0) * la - qw * lb - np.log(a) + np.log(_hyp2f1_one(qw, a + 1.0, z))
        if repair and not np.isfinite(out).all():
            from scipy import integrate  # rarely needed: imported on first use

            out = np.array(out, dtype=float, copy=True)
            bad = np.flatnonzero(~np.isfinite(out))
            pw_b, qw_b, t_b = (np.broadcast_to(v, out.shape)[bad] for v in (pw, qw, t))
            for i, p_i, q_i, t_i in zip(bad, pw_b, qw_b, t_b):
                ratio = integrate.quad(lambda v: np.exp(-p_i * np.log1p(v / (alpha + t_i))
                                                        - q_i * np.log1p(v / (beta + t_i))), 0, np.inf)[0]
                out[i] = -p_i * np.log(alpha + t_i) - q_i * np.log(beta + t_i) + np.log(ratio)
        return out

    def _points(self, x, t_x, T):
        """The distinct (x, t) among the groups' (x, t_x) and (x, T), and where each end sits in them: the tail
        integral is evaluated once per point (kept for the fit's own arrays, which stay the same throughout)."""
        cache = getattr(self, "_point_cache", None)
        if cache is not None and cache[0] is x and cache[1] is t_x and cache[2] is T:
            return cache[3:]
        n = len(x)
        (ux, ut), inv, _ = unique_rows(np.r_[x, x], np.r_[t_x, T])
        self._point_cache = (x, t_x, T, ux, ut, inv[:n], inv[n:])
        return self._point_cache[3:]

    def _tails(self, shifts, alpha, beta, p_r, x, t_x, T, up: bool = False):
        """Per (``pw_shift``, ``qw``) in ``shifts``: (log G(t_x), log G(T)) per group with exponents
        ``r + x + pw_shift`` and ``qw`` (fit only: no repair), all in one 2F1 call (one hand-over to the other
        threads). ``up``: the first also with ``pw + 1``, by the recurrence of ``_log_tail_up``."""
        ux, ut, i_tx, i_T = self._points(x, t_x, T)
        m = len(ux)
        pw = np.concatenate([p_r + ux + shift for shift, _ in shifts])
        qw = np.concatenate([np.full(m, q) for _, q in shifts])
        g = self._log_tail(pw, qw, alpha, beta, np.tile(ut, len(shifts)))
        found = [(g[k * m:(k + 1) * m][i_tx], g[k * m:(k + 1) * m][i_T]) for k in range(len(shifts))]
        if up:
            g_up = self._log_tail_up(pw[:m], shifts[0][1], alpha, beta, ut, g[:m])
            found[0] = (*found[0], g_up[i_tx], g_up[i_T])
        return found

    def _log_tail_up(self, pw, qw, alpha, beta, t, g):
        """log G with ``pw + 1`` from log G (``g``) without another 2F1: integrating by parts,
        ``pw (beta - alpha) G(pw+1) = (alpha+t)^-pw (beta+t)^(1-qw) - (pw+qw-1) G(pw)``. Where the two terms
        nearly cancel (or alpha = beta) the tail is computed directly."""
        la = -pw * np.log(alpha + t) + (1.0 - qw) * np.log(beta + t)
        lb = np.log(pw + qw - 1.0) + g
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if beta > alpha:
                out = la + np.log1p(-np.exp(lb - la)) - np.log(pw * (beta - alpha))
            else:
                out = lb + np.log1p(-np.exp(la - lb)) - np.log(pw * (alpha - beta))
        bad = ~np.isfinite(out) | (np.abs(la - lb) < 1e-2) | ~np.isfinite(g)
        if bad.any():
            out = np.array(out, dtype=float)
            out[bad] = self._log_tail(pw[bad] + 1.0, qw, alpha, beta, t[bad])
        return out

    def _parts(self, p, x, t_x, T, repair: bool = True, tails=None):
        r, alpha, s, beta = p
        head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_alive = head - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
        if tails is not None:
            g_tx, g_T = tails
        elif repair:
            g_tx = self._log_tail(r + x, s + 1.0, alpha, beta, t_x, repair)
            g_T = self._log_tail(r + x, s + 1.0, alpha, beta, T, repair)
        else:
            g_tx, g_T = self._tails(((0.0, s + 1.0),), alpha, beta, r, x, t_x, T)[0]
        log_dead = np.log(s) + head + _log_diff(g_tx, g_T)
        return log_alive, log_dead, g_tx, g_T

    def _value_grad(self, theta, x, t_x, T, w, n):
        """Exact in alpha and beta (the tail integral with one exponent raised, from the tail itself by a
        recurrence); forward differences of the tail integral alone in r and s; beta from alpha by shift
        invariance: 3 hypergeometric evaluations per distinct (x, t) point instead of 18 per end for central
        differences."""
        r, alpha, s, beta = p = np.exp(theta)
        pw, qw = r + x, s + 1.0
        h_r, h_s = 1e-6 * max(r, 1e-3), 1e-6 * max(s, 1e-3)
        # the tails and both shifted tails in one 2F1 call: one hand-over to the other threads instead of three
        (g_tx, g_T, up_tx, up_T), (r_tx, r_T), (s_tx, s_T) = self._tails(
            ((0.0, qw), (h_r, qw), (0.0, qw + h_s)), alpha, beta, r, x, t_x, T, up=True)
        log_alive, log_dead = self._parts(p, x, t_x, T, repair=False, tails=(g_tx, g_T))[:2]
        ll = np.logaddexp(log_alive, log_dead)
        wa, wd = np.exp(log_alive - ll), np.exp(log_dead - ll)
        rho = np.exp(np.minimum(g_T - g_tx, 0.0))  # G(T) / G(t_x)
        live = wd > 0
        denom = np.where(live, -np.expm1(np.where(live, g_T - g_tx, -1.0)), 1.0)

        def d_log_diff(d_tx, d_T):  # d log(G(t_x) - G(T)) from d log G at both ends
            return np.where(live, (d_tx - rho * d_T) / denom, 0.0)

        # forward differences of log G in one exponent
        dd_r = d_log_diff((r_tx - g_tx) / h_r, (r_T - g_T) / h_r)
        dd_s = d_log_diff((s_tx - g_tx) / h_s, (s_T - g_T) / h_s)
        # dG/dalpha = -pw * G with pw + 1; G depends on alpha + t and beta + t only, so
        # dG/dalpha + dG/dbeta = dG/dt = -(alpha+t)^-pw (beta+t)^-qw, which gives dG/dbeta for free
        da_tx = -pw * np.exp(up_tx - g_tx)
        da_T = -pw * np.exp(up_T - g_T)
        db_tx = -np.exp(-pw * np.log(alpha + t_x) - qw * np.log(beta + t_x) - g_tx) - da_tx
        db_T = -np.exp(-pw * np.log(alpha + T) - qw * np.log(beta + T) - g_T) - da_T
        dd_alpha, dd_beta = d_log_diff(da_tx, da_T), d_log_diff(db_tx, db_T)
        head_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha)
        g_r = head_r - wa * np.log(alpha + T) + wd * dd_r
        g_alpha = r / alpha - wa * (r + x) / (alpha + T) + wd * dd_alpha
        g_s = np.log(beta) - wa * np.log(beta + T) + wd * (1.0 / s + dd_s)
        g_beta = s / beta - wa * s / (beta + T) + wd * dd_beta
        return self._finish(p, ll, np.array([g_r, g_alpha, g_s, g_beta]), w, n)

    def _loglik_later(self, p, x, t_x, T, horizon, parts):
        r, alpha, s, beta = p
        log_alive, _, g_tx, _ = parts  # G(t_x) is shared; only the tail at T + horizon is new
        later_alive = log_alive + (r + x) * np.log((alpha + T) / (alpha + T + horizon)) \
            + s * np.log((beta + T) / (beta + T + horizon))
        g_later = self._log_tail(r + x, s + 1.0, alpha, beta, T + horizon, True)
        head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return np.logaddexp(later_alive, np.log(s) + head + _log_diff(g_tx, g_later))

    def _expected(self, p, x, T, horizon, alive):
        r, alpha, s, beta = p
        log_ratio = np.log((beta + T + horizon) / (beta + T))
        if abs(s - 1.0) < 1e-8:
            spread = (beta + T) * log_ratio
        else:
            spread = (beta + T) * -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)
        return alive * (r + x) / (alpha + T) * spread


class BGNBD(_Fitter):
    """BG/NBD (Fader, Hardie & Lee 2005): Poisson purchases at rate lambda ~ Gamma(r, alpha); after each
    purchase the customer drops out with probability p ~ Beta(a, b)."""

    param_names = ("r", "alpha", "a", "b")

    def _start(self, x, t_x, T, w):
        r, alpha = _nbd_start(x, T, w)
        return np.log([r, alpha, 1.0, 3.0])

    def _parts(self, p, x, t_x, T, repair: bool = True):
        r, alpha, a, b = p
        common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
        log_alive = common + special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_dead = np.where(x > 0, common + special.betaln(a + 1.0, np.maximum(b + x - 1.0, 1e-300))
                                - (r + x) * np.log(alpha + t_x), -np.inf)
        return log_alive, log_dead

    def _value_grad(self, theta, x, t_x, T, w, n):
        r, alpha, a, b = p = np.exp(theta)
        log_alive, log_dead = self._parts(p, x, t_x, T)
        ll = np.logaddexp(log_alive, log_dead)
        wa, wd = np.exp(log_alive - ll), np.exp(log_dead - ll)  # shares of the two terms
        dg = special.digamma
        d_common_r = dg(r + x) - dg(r) + np.log(alpha)
        d_common_a = -(dg(a) - dg(a + b))
        d_common_b = -(dg(b) - dg(a + b))
        g_r = d_common_r - wa * np.log(alpha + T) - wd * np.log(alpha + t_x)
        g_alpha = r / alpha - (r + x) * (wa / (alpha + T) + wd / (alpha + t_x))
        g_a = d_common_a + wa * (dg(a) - dg(a + b + x)) + wd * (dg(a + 1) - dg(a + b + x))
        bx1 = np.maximum(b + x - 1.0, 1e-300)
        g_b = d_common_b + wa * (dg(b + x) - dg(a + b + x)) + wd * (dg(bx1) - dg(a + b + x))
        return self._finish(p, ll, np.array([g_r, g_alpha, g_a, g_b]), w, n)

    def _expected(self, p, x, T, horizon, alive):
        """FHL 2005 eq. 10 with the 2F1 Euler-transformed so it stays finite."""
        r, alpha, a, b = p
        z = horizon / (alpha + T + horizon)
        # ((alpha+T)/(alpha+T+h))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)
        a = a if abs(a - 1.0) > 1e-7 else 1.0 + 1e-7  # the formula's removable singularity at a = 1
        tail = np.exp((a - 1.0) * np.log1p(-z)) * special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        return alive * (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
