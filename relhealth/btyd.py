"""Buy-till-you-die models fitted by maximum likelihood: Pareto/NBD and BG/NBD.

Each customer is summarised by ``x`` (repeat purchases), ``t_x`` (time of the last purchase, from the first) and
``T`` (time from the first purchase to the end of observation), in any one time unit. The fitters follow
lifelines' naming: ``fit(frequency, recency, T)`` returns ``self``; fitted values end in ``_``; ``summary`` is a
DataFrame.

How the fits stay fast and stable:

- customers with the same ``(x, t_x, T)`` are one group with a weight (CDNOW: 2,357 customers, 1,016 groups);
- parameters are optimised on the log scale with L-BFGS-B from moment-based starting values, inside wide bounds;
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

import numpy as np
import pandas as pd
from scipy import optimize, special

MIN_CUSTOMERS = 20
MIN_REPEAT_BUYERS = 10
LOG_BOUND = 14.0  # parameters live in [e^-14, e^14]


def _openblas_controls() -> list[tuple]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process (Linux; [] elsewhere)."""
    import ctypes

    found, seen = [], set()
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if "openblas" in line.lower()]
    except OSError:
        return found
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_"):
            get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                found.append((get, put))
        if not found:
            get, put = getattr(lib, "openblas_get_num_threads", None), getattr(lib, "openblas_set_num_threads", None)
            if get is not None and put is not None:
                found.append((get, put))
    return found


class _OneBlasThread:
    """Run a fit with OpenBLAS on one thread. L-BFGS-B makes many tiny BLAS calls; with OpenBLAS's worker threads
    awake each one costs milliseconds (measured: the CDNOW Pareto/NBD fit takes 0.59 s instead of 0.09 s)."""

    controls: list[tuple] | None = None

    def __enter__(self):
        if _OneBlasThread.controls is None:
            _OneBlasThread.controls = _openblas_controls()
        self.saved = [(put, get()) for get, put in _OneBlasThread.controls]
        for put, _ in self.saved:
            put(1)

    def __exit__(self, *exc):
        for put, threads in self.saved:
            put(threads)


class ModelFitError(ValueError):
    """The data cannot support a fit (too few customers or repeat buyers, or no convergence)."""


def _as_arrays(frequency, recency, T):
    x = np.asarray(frequency, dtype=float).ravel()
    t_x = np.asarray(recency, dtype=float).ravel()
    T = np.broadcast_to(np.asarray(T, dtype=float), x.shape).astype(float)
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError("frequency, recency and T must have the same length")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueError("frequency, recency and T must be finite numbers (no blanks)")
    if (x < 0).any() or (np.abs(x - np.round(x)) > 1e-9).any():
        raise ValueError("frequency must be a whole number of repeat purchases, 0 or more")
    if (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise ValueError("recency must lie between 0 and T (the last purchase cannot follow the end of the period)")
    if ((x == 0) & (t_x > 0)).any():
        raise ValueError("a customer with no repeat purchase must have recency 0")
    return np.round(x), np.minimum(t_x, T), T


def _grouped(x, t_x, T):
    """Unique (x, t_x, T) rows and their counts."""
    stacked = np.column_stack([x, t_x, T])
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return uniq[:, 0], uniq[:, 1], uniq[:, 2], counts.astype(float)


def _log_diff(log_a, log_b):
    """log(exp(log_a) - exp(log_b)) for log_a >= log_b; -inf where they are equal."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = log_a + np.log1p(-np.exp(np.minimum(log_b - log_a, 0.0)))
    return np.where(log_b >= log_a, -np.inf, out)


class _Fitter:
    param_names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = float(penalizer)
        self.params_: pd.Series | None = None

    # -- each model supplies _parts (per-customer log terms), _start and _gradient -----------------------------
    def _parts(self, p, x, t_x, T, repair: bool = True) -> tuple[np.ndarray, ...]:
        """(log of the still-alive-at-T term, log of the dropped-out-before-T term, ...) of the likelihood."""
        raise NotImplementedError

    def _start(self, x, t_x, T, w) -> np.ndarray:
        raise NotImplementedError

    def _bounds(self) -> list[tuple[float, float]]:
        """Bounds of the log-parameters."""
        return [(-LOG_BOUND, LOG_BOUND)] * len(self.param_names)

    def _at_limit(self, theta) -> bool:
        """True when a fit ran to a bound that means the data cannot pin the parameters down."""
        return bool(np.any(np.abs(theta) > LOG_BOUND - 0.1))

    def _value_grad(self, theta, x, t_x, T, w, n) -> tuple[float, np.ndarray]:
        """``_objective`` and its gradient in the log-parameters; central differences unless a model knows better."""
        grad = np.empty_like(theta)
        for i in range(len(theta)):
            step = np.zeros_like(theta)
            step[i] = 1e-6
            grad[i] = (self._objective(theta + step, x, t_x, T, w, n)
                       - self._objective(theta - step, x, t_x, T, w, n)) / 2e-6
        return self._objective(theta, x, t_x, T, w, n), grad

    def _finish(self, p, ll, grads, w, n) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood and its gradient from per-group log-likelihoods and d/dparams."""
        # sums, not BLAS products: a multi-threaded BLAS call per step costs more than it saves at this size
        value = -np.sum(w * ll) / n + self.penalizer * np.sum(p ** 2)
        grad = -np.sum(grads * w, axis=1) * p / n + 2 * self.penalizer * p ** 2
        return (float(value), grad) if np.isfinite(value) else (1e100, np.zeros_like(p))

    def _gradient(self, theta, *args) -> np.ndarray:
        return self._value_grad(theta, *args)[1]

    # -- shared machinery -------------------------------------------------------------------------------------
    def _loglik(self, p, x, t_x, T, repair: bool = True) -> np.ndarray:
        log_alive, log_dead = self._parts(p, x, t_x, T, repair)[:2]
        return np.logaddexp(log_alive, log_dead)

    def _objective(self, theta, x, t_x, T, w, n) -> float:
        """Mean negative log-likelihood per customer (plus the optional L2 penalty on the parameters)."""
        p = np.exp(theta)
        with np.errstate(invalid="ignore"):
            value = -np.sum(w * self._loglik(p, x, t_x, T, repair=False)) / n + self.penalizer * np.sum(p ** 2)
        return float(value) if np.isfinite(value) else 1e100

    def fit(self, frequency, recency, T, weights=None, initial_params=None) -> "_Fitter":
        """Fit by maximum likelihood and return ``self``.

        ``weights`` counts customers per row (default: one each, and identical rows are grouped here);
        ``initial_params`` (natural scale, in ``param_names`` order) replaces the moment-based start.
        Raises ``ModelFitError`` when the data cannot support a fit.
        """
        x, t_x, T = _as_arrays(frequency, recency, T)
        w0 = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
        if w0.shape != x.shape or (w0 < 0).any():
            raise ValueError("weights must be one count of 0 or more per row")
        n_customers = float(w0.sum())
        n_repeat = float(w0[x > 0].sum())
        name = type(self).__name__
        if n_customers < MIN_CUSTOMERS or n_repeat < MIN_REPEAT_BUYERS:
            raise ModelFitError(
                f"{name} needs at least {MIN_CUSTOMERS} customers of whom at least {MIN_REPEAT_BUYERS} bought "
                f"more than once; this data has {n_customers:.0f} customers and {n_repeat:.0f} repeat buyers. "
                "A longer order history or more accounts would let the model fit."
            )
        gx, gt, gT, gw = _grouped(x, t_x, T) if weights is None else (x, t_x, T, w0)
        args = (gx, gt, gT, gw, n_customers)
        theta0 = self._start(gx, gt, gT, gw) if initial_params is None else np.log(np.asarray(initial_params, float))
        bounds = self._bounds()
        lo, hi = np.array(bounds).T
        theta0 = np.clip(theta0, lo, hi)
        # probes outside the feasible region score 1e100; no need to shout
        with np.errstate(all="ignore"), _OneBlasThread():
            res = optimize.minimize(self._value_grad, theta0, args=args, jac=True, method="L-BFGS-B",
                                    bounds=bounds, options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
            theta = res.x
            grad = self._gradient(theta, *args)
            free = ~(((theta <= lo + 1e-9) & (grad > 0)) | ((theta >= hi - 1e-9) & (grad < 0)))
            if np.max(np.abs(grad[free]), initial=0.0) > 1e-5:  # restart where L-BFGS-B stopped early
                polished = optimize.minimize(self._value_grad, theta, args=args, jac=True, method="L-BFGS-B",
                                             bounds=bounds, options={"maxiter": 200, "ftol": 1e-15, "gtol": 1e-10})
                if polished.fun <= res.fun:
                    theta = polished.x
        if self._objective(theta, *args) >= 1e99 or self._at_limit(theta):
            raise ModelFitError(
                f"{name} did not converge on this data: parameters ran to their limits "
                f"({', '.join(f'{k}={v:.3g}' for k, v in zip(self.param_names, np.exp(theta)))}). "
                "The purchase history does not support this model."
            )
        self._theta, self._args = theta, args
        self.params_ = pd.Series(np.exp(theta), index=list(self.param_names), name="coef")
        self.log_likelihood_ = float(gw @ self._loglik(self.params_.to_numpy(), gx, gt, gT))
        self.n_customers_ = int(round(n_customers))
        self.n_groups_ = len(gx)
        return self

    def _check_fitted(self) -> np.ndarray:
        if self.params_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(frequency, recency, T) first")
        return self.params_.to_numpy()

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se (delta method from the observed information on the log scale), lower/upper 95% bounds."""
        self._check_fitted()
        theta, args = self._theta, self._args
        k, h = len(theta), 1e-4
        hess = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = h
            hess[i] = (self._gradient(theta + e, *args) - self._gradient(theta - e, *args)) / (2 * h)
        hess = (hess + hess.T) / 2 * args[-1]  # objective is the mean; information is for the sum
        try:
            cov = np.linalg.inv(hess)
            se_log = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:
            se_log = np.full(k, np.nan)
        coef = np.exp(theta)
        return pd.DataFrame({"coef": coef, "se(coef)": coef * se_log, "lower 95% bound": np.exp(theta - 1.96 * se_log),
                             "upper 95% bound": np.exp(theta + 1.96 * se_log)}, index=list(self.param_names))

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Per-customer log-likelihood of (x, t_x, T) at the fitted parameters."""
        p = self._check_fitted()
        x, t_x, T = _as_arrays(frequency, recency, T)
        return self._loglik(p, x, t_x, T)

    def prob_no_purchase(self, frequency, recency, T, horizon) -> np.ndarray:
        """P(no purchase in (T, T + horizon] | history) = L(x, t_x, T + horizon) / L(x, t_x, T)."""
        p = self._check_fitted()
        x, t_x, T = _as_arrays(frequency, recency, T)
        parts = self._parts(p, x, t_x, T)
        ll = np.logaddexp(parts[0], parts[1])
        return np.exp(np.minimum(self._loglik_later(p, x, t_x, T, horizon, parts) - ll, 0.0))

    def predict(self, frequency, recency, T, horizon, extra_horizons=()) -> dict[str, np.ndarray]:
        """Everything scoring needs in one pass, sharing the work the separate methods would repeat:
        ``p_alive``, ``prob_no_purchase`` and ``expected_purchases`` for ``horizon``, and
        ``prob_no_purchase_extra`` (one array per extra horizon)."""
        p = self._check_fitted()
        x, t_x, T = _as_arrays(frequency, recency, T)
        parts = self._parts(p, x, t_x, T)
        ll = np.logaddexp(parts[0], parts[1])
        alive = np.exp(parts[0] - ll)
        later = [np.exp(np.minimum(self._loglik_later(p, x, t_x, T, h, parts) - ll, 0.0))
                 for h in (horizon, *extra_horizons)]
        return {"p_alive": alive, "prob_no_purchase": later[0], "prob_no_purchase_extra": later[1:],
                "expected_purchases": self._expected(p, x, T, horizon, alive)}

    def _loglik_later(self, p, x, t_x, T, horizon, parts) -> np.ndarray:
        """log L(x, t_x, T + horizon), given ``_parts`` at T (models may reuse them)."""
        return self._loglik(p, x, t_x, T + horizon)

    def expected_purchases(self, frequency, recency, T, horizon) -> np.ndarray:
        """E[purchases in (T, T + horizon] | history]."""
        p = self._check_fitted()
        x, t_x, T = _as_arrays(frequency, recency, T)
        return self._expected(p, x, T, horizon, self.p_alive(x, t_x, T))

    def _expected(self, p, x, T, horizon, alive) -> np.ndarray:
        raise NotImplementedError

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still active at T | history)."""
        p = self._check_fitted()
        x, t_x, T = _as_arrays(frequency, recency, T)
        log_alive, log_dead = self._parts(p, x, t_x, T)[:2]
        return np.exp(log_alive - np.logaddexp(log_alive, log_dead))

    def __repr__(self) -> str:
        if self.params_ is None:
            return f"<{type(self).__name__}: not fitted>"
        inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{type(self).__name__}: fitted on {self.n_customers_} customers, {inner}>"


def _nbd_start(x, T, w):
    """r, alpha of the NBD (no dropout) by moments: used as starting values."""
    rate = max((w @ x) / (w @ T), 1e-6)
    r = 1.0
    return r, r / rate


class ParetoNBD(_Fitter):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): Poisson purchases at rate lambda ~ Gamma(r, alpha),
    exponential lifetime at rate mu ~ Gamma(s, beta)."""

    param_names = ("r", "alpha", "s", "beta")
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
                out = -pw * la - (qw - 1.0) * lb - np.log(a) + np.log(special.hyp2f1(1.0, pw, a + 1.0, z))
            else:
                z = (beta - alpha) / (beta + t)
                out = -(pw - 1.0) * la - qw * lb - np.log(a) + np.log(special.hyp2f1(1.0, qw, a + 1.0, z))
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

    def _parts(self, p, x, t_x, T, repair: bool = True):
        r, alpha, s, beta = p
        head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_alive = head - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
        g_tx = self._log_tail(r + x, s + 1.0, alpha, beta, t_x, repair)
        g_T = self._log_tail(r + x, s + 1.0, alpha, beta, T, repair)
        log_dead = np.log(s) + head + _log_diff(g_tx, g_T)
        return log_alive, log_dead, g_tx, g_T

    def _value_grad(self, theta, x, t_x, T, w, n):
        """Exact in alpha and beta (the tail integral with one exponent raised); forward differences of the tail
        integral alone in r and s; beta from alpha by shift invariance: 8 hypergeometric evaluations per group instead
        of 18 for central differences."""
        r, alpha, s, beta = p = np.exp(theta)
        log_alive, log_dead, g_tx, g_T = self._parts(p, x, t_x, T, repair=False)
        ll = np.logaddexp(log_alive, log_dead)
        wa, wd = np.exp(log_alive - ll), np.exp(log_dead - ll)
        pw, qw, tail = r + x, s + 1.0, self._log_tail
        rho = np.exp(np.minimum(g_T - g_tx, 0.0))  # G(T) / G(t_x)
        live = wd > 0
        denom = np.where(live, -np.expm1(np.where(live, g_T - g_tx, -1.0)), 1.0)

        def d_log_diff(d_tx, d_T):  # d log(G(t_x) - G(T)) from d log G at both ends
            return np.where(live, (d_tx - rho * d_T) / denom, 0.0)

        def d_log_tail(shift_p, shift_q, step):  # forward difference of log G in one exponent
            return ((tail(pw + shift_p, qw + shift_q, alpha, beta, t_x) - g_tx) / step,
                    (tail(pw + shift_p, qw + shift_q, alpha, beta, T) - g_T) / step)

        h_r, h_s = 1e-6 * max(r, 1e-3), 1e-6 * max(s, 1e-3)
        dd_r = d_log_diff(*d_log_tail(h_r, 0.0, h_r))
        dd_s = d_log_diff(*d_log_tail(0.0, h_s, h_s))
        # dG/dalpha = -pw * G with pw + 1; G depends on alpha + t and beta + t only, so
        # dG/dalpha + dG/dbeta = dG/dt = -(alpha+t)^-pw (beta+t)^-qw, which gives dG/dbeta for free
        da_tx = -pw * np.exp(tail(pw + 1.0, qw, alpha, beta, t_x) - g_tx)
        da_T = -pw * np.exp(tail(pw + 1.0, qw, alpha, beta, T) - g_T)
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
