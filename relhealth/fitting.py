"""The machinery every buy-till-you-die model here shares: input checks, grouping identical customers, the
maximum-likelihood fit (L-BFGS-B on log-parameters, one restart where it stops early), standard errors, and the
predictions built from a model's likelihood. A model (``relhealth.btyd``) supplies only its maths: ``_parts``
(the log of its "still alive" and "already left" likelihood terms), ``_start``, ``_value_grad`` and ``_expected``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

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


def unique_rows(*columns):
    """The distinct rows of equal-length float columns in lexicographic order (as ``np.unique(axis=0)`` gives
    them, several times faster: a lexsort and a neighbour test), each row's index among them, and their counts."""
    order = np.lexsort(columns[::-1])
    ordered = [c[order] for c in columns]
    first = np.ones(len(order), bool)
    if len(order):
        first[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in ordered])
    inverse = np.empty(len(order), np.int64)
    inverse[order] = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(order)])
    return [c[starts] for c in ordered], inverse, counts


def _grouped(x, t_x, T):
    """Unique (x, t_x, T) rows and their counts."""
    (ux, ut, uT), _, counts = unique_rows(x, t_x, T)
    return ux, ut, uT, counts.astype(float)


def _log_diff(log_a, log_b):
    """log(exp(log_a) - exp(log_b)) for log_a >= log_b; -inf where they are equal."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = log_a + np.log1p(-np.exp(np.minimum(log_b - log_a, 0.0)))
    return np.where(log_b >= log_a, -np.inf, out)


class _Fitter:
    param_names: tuple[str, ...] = ()
    _relative_scales: tuple[tuple[int, int], ...] = ()  # (scale, shape) index pairs optimised as a ratio

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
        theta_lo, theta_hi = np.array(self._bounds()).T
        theta0 = np.clip(theta0, theta_lo, theta_hi)
        lo, hi = theta_lo.copy(), theta_hi.copy()
        # optimised in coordinates where a scale parameter is taken relative to its shape (log alpha - log r):
        # the likelihood's long ridges (the same mean rate from many shape/scale pairs) then run along an axis
        to_theta = np.eye(len(theta0))
        for scale, shape in self._relative_scales:
            to_theta[scale, shape] = 1.0
            lo[scale], hi[scale] = lo[scale] - hi[shape], hi[scale] - lo[shape]
        phi_bounds = list(zip(lo, hi))

        def value_grad(phi, *a):
            value, grad = self._value_grad(to_theta @ phi, *a)
            return value, to_theta.T @ grad

        # probes outside the feasible region score 1e100; no need to shout
        with np.errstate(all="ignore"), _OneBlasThread():
            res = optimize.minimize(value_grad, np.linalg.solve(to_theta, theta0), args=args, jac=True,
                                    method="L-BFGS-B", bounds=phi_bounds,
                                    options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
            phi, value, grad = res.x, res.fun, res.jac
            free = ~(((phi <= lo + 1e-9) & (grad > 0)) | ((phi >= hi - 1e-9) & (grad < 0)))
            if np.max(np.abs(grad[free]), initial=0.0) > 1e-5:  # restart where L-BFGS-B stopped early
                polished = optimize.minimize(value_grad, phi, args=args, jac=True, method="L-BFGS-B",
                                             bounds=phi_bounds,
                                             options={"maxiter": 200, "ftol": 1e-15, "gtol": 1e-10})
                if polished.fun <= res.fun:
                    phi, value = polished.x, polished.fun
        theta = to_theta @ phi
        outside = (theta < theta_lo - 1e-9).any() or (theta > theta_hi + 1e-9).any()
        if value >= 1e99 or outside or self._at_limit(theta):
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
