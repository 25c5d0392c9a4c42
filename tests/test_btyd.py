"""Pareto/NBD and BG/NBD fitters: the published CDNOW fits, the maths against numerical integration, the edges."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from relhealth.btyd import BGNBD, ModelFitError, ParetoNBD, _Fitter, _grouped
from relhealth.calibration import History, summarise

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_from_log():
    """The summary built here from the raw log: customer = first column, one purchase per day, weeks."""
    log = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype={0: str, 2: str})
    ids, dates = log[0], pd.to_datetime(log[2], format="%Y%m%d")
    customers = pd.Index(ids.unique())
    as_of = int(np.datetime64("1997-09-30", "D").astype("int64"))
    s = summarise(History.from_frame(ids, dates, customers), as_of)
    x, t_x, T = s.xtT()
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T}, index=customers)


@pytest.fixture(scope="module")
def bgnbd(cdnow):
    return BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pareto(cdnow):
    return ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def sig3(value):
    return float(f"{value:.3g}")


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd):
    p = bgnbd.params_
    assert [sig3(p[k]) for k in ("r", "alpha", "a", "b")] == [0.243, 4.41, 0.793, 2.43]
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    summary = bgnbd.summary
    assert list(summary.columns) == ["coef", "se(coef)", "lower 95% bound", "upper 95% bound"]
    assert summary.loc["r", "se(coef)"] == pytest.approx(0.0126, abs=0.0005)  # lifetimes prints 0.012557


def test_pareto_nbd_matches_the_published_fit(pareto):
    p = pareto.params_
    assert p["r"] == pytest.approx(0.5533, rel=1e-3)
    assert p["alpha"] == pytest.approx(10.5776, rel=1e-3)
    assert p["s"] == pytest.approx(0.6061, rel=2e-3)
    assert p["beta"] == pytest.approx(11.6650, rel=2e-3)
    assert pareto.log_likelihood_ == pytest.approx(-9594.98, abs=0.05)


def test_summary_built_from_the_raw_log_gives_the_same_fit(cdnow, cdnow_from_log):
    ours = cdnow_from_log
    assert len(ours) == len(cdnow) == 2357
    assert np.array_equal(np.sort(ours["frequency"].to_numpy()), np.sort(cdnow["frequency"].to_numpy()))
    # the published summary rounds weeks to two decimals
    assert np.abs(np.sort(ours["recency"].to_numpy()) - np.sort(cdnow["recency"].to_numpy())).max() < 0.006
    for model, published in ((BGNBD, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
                             (ParetoNBD, {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67})):
        fit = model().fit(ours["frequency"], ours["recency"], ours["T"])
        for name, value in published.items():
            assert fit.params_[name] == pytest.approx(value, rel=3e-3), (model.__name__, name)


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_pareto_tail_integral_matches_quadrature(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        alpha, beta = np.exp(rng.uniform(-2, 4, 2))
        pw, qw, t = float(np.exp(rng.uniform(-2, 3))), 1 + float(np.exp(rng.uniform(-3, 2))), float(rng.uniform(0, 80))
        ours = ParetoNBD._log_tail(np.array([pw]), qw, alpha, beta, np.array([t]))[0]
        scale = -pw * np.log(alpha + t) - qw * np.log(beta + t)
        ratio = integrate.quad(lambda v: np.exp(-pw * np.log1p(v / (alpha + t)) - qw * np.log1p(v / (beta + t))),
                               0, np.inf, epsabs=0, epsrel=1e-11, limit=200)[0]
        assert ours == pytest.approx(scale + np.log(ratio), rel=1e-8, abs=1e-8)


def test_heavy_buyers_stay_finite_where_the_hypergeometric_gives_up():
    # scipy's 2F1 returns NaN for b in the hundreds with z near 1; scoring integrates those values instead
    model = ParetoNBD()
    model.params_ = pd.Series([0.5, 300.0, 0.7, 2.0], index=list(model.param_names))
    x = np.array([200.0, 400.0])
    p0 = model.prob_no_purchase(x, np.array([1.0, 2.0]), np.array([100.0, 100.0]), 10.0)
    assert np.isfinite(p0).all() and ((p0 > 0) & (p0 <= 1)).all()


@pytest.mark.parametrize("model", [ParetoNBD, BGNBD], ids=["pareto", "bgnbd"])
def test_analytic_gradient_matches_central_differences(model, cdnow):
    m = model()
    g = _grouped(cdnow["frequency"].to_numpy(float), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy())
    for theta in (np.log([0.6, 8.0, 0.7, 9.0]), np.log([2.0, 3.0, 0.3, 40.0]), np.log([0.2, 30.0, 2.0, 1.0])):
        value, grad = m._value_grad(theta, *g, float(len(cdnow)))
        ref_value, ref = _Fitter._value_grad(m, theta, *g, float(len(cdnow)))
        assert value == pytest.approx(ref_value, rel=1e-12)
        assert grad == pytest.approx(ref, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("model", ["pareto", "bgnbd"])
def test_probability_of_no_purchase_behaves(model, request, cdnow):
    fit = request.getfixturevalue(model)
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    p_short, p_long = fit.prob_no_purchase(x, t_x, T, 10), fit.prob_no_purchase(x, t_x, T, 52)
    assert np.allclose(fit.prob_no_purchase(x, t_x, T, 0), 1)
    assert (p_long <= p_short + 1e-12).all() and (p_long > 0).all()
    assert (p_long >= 1 - fit.p_alive(x, t_x, T) - 1e-12).all()  # a customer who left never buys again


def test_bgnbd_one_time_buyers_alive_for_sure_but_not_safest(bgnbd, cdnow):
    one = (cdnow["frequency"] == 0).to_numpy()
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    assert np.allclose(bgnbd.p_alive(x, t_x, T)[one], 1.0)
    p0 = bgnbd.prob_no_purchase(x, t_x, T, 39)
    assert p0[one].mean() > p0[~one].mean()  # one-time buyers are the likeliest not to come back


def test_expected_purchases_of_a_brand_new_customer_are_the_unconditional_ones(pareto, bgnbd):
    t = 39.0
    r, alpha, s, beta = pareto.params_
    expected = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert pareto.expected_purchases(0, 0, 1e-9, t)[0] == pytest.approx(expected, rel=1e-6)
    r, alpha, a, b = bgnbd.params_
    z = t / (alpha + t)
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
    assert bgnbd.expected_purchases(0, 0, 1e-9, t)[0] == pytest.approx(expected, rel=1e-6)


def test_expected_purchases_rank_active_customers_first(pareto, cdnow):
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    e = pareto.expected_purchases(x, t_x, T, 39)
    recent_heavy = ((cdnow["frequency"] >= 5) & (cdnow["T"] - cdnow["recency"] < 4)).to_numpy()
    assert e[recent_heavy].min() > np.median(e)


def test_too_few_repeat_buyers_is_a_clear_fit_error():
    x = np.r_[np.zeros(40), np.ones(3)]
    with pytest.raises(ModelFitError, match="repeat buyers"):
        ParetoNBD().fit(x, np.where(x > 0, 5.0, 0.0), np.full(43, 30.0))


@pytest.mark.parametrize("bad, words", [
    (dict(recency=[5.0, 40.0]), "between 0 and T"),
    (dict(frequency=[1.5, 2.0]), "whole number"),
    (dict(recency=[np.nan, 1.0]), "finite"),
], ids=["recency-after-T", "fractional", "blank"])
def test_bad_inputs_say_what_is_wrong(bad, words):
    args = dict(frequency=[1.0, 2.0], recency=[5.0, 10.0], T=[30.0, 30.0]) | bad
    with pytest.raises(ValueError, match=words):
        ParetoNBD().fit(**args)


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        BGNBD().p_alive([1], [1], [2])


@pytest.mark.parametrize("parts", [2, 3, 4], ids=lambda p: f"{p}-threads")
def test_split_hypergeometric_gives_the_same_values_in_a_forked_child_too(monkeypatch, parts):
    """The 2F1 of a long array is shared between threads: the values are those of one call, and a process
    forked after the threads were used computes them as well (it starts its own threads, it does not wait
    forever on its parent's)."""
    import multiprocessing as mp
    import sys

    from relhealth import btyd

    monkeypatch.setattr(btyd, "_PARTS", parts)
    rng = np.random.default_rng(3)
    n = 3 * btyd._SPLIT_FROM + 1
    b, z = 0.8 + rng.integers(0, 60, n), rng.uniform(0.0, 0.9999, n)
    whole = special.hyp2f1(1.0, b, b + 21.0, z)
    assert np.array_equal(btyd._hyp2f1(1.0, b, b + 21.0, z), whole, equal_nan=True)
    if not sys.platform.startswith("linux"):
        return  # no fork to check
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=lambda: send.send(btyd._hyp2f1(1.0, b, b + 21.0, z)), daemon=True)
    child.start()
    assert receive.poll(60), "the forked child did not answer"
    assert np.array_equal(receive.recv(), whole, equal_nan=True)
    child.join(10)


@pytest.mark.parametrize("parts", [2, 3, 4], ids=lambda p: f"{p}-threads")
def test_both_routes_of_the_tail_integral_give_the_same_values_with_threads(monkeypatch, parts):
    """One thread takes the incomplete beta route and a share of scipy's values while the others share the rest:
    the values are those of one thread, whatever the mix of routes."""
    from relhealth import btyd

    rng = np.random.default_rng(4)
    n = 3 * btyd._SPLIT_FROM + 5
    b, z = 0.8 + rng.integers(0, 60, n), rng.uniform(0.5, 0.9999, n)
    for share_on_route in (0.0, 0.2, 0.9, 1.0):
        c = b + np.where(rng.uniform(size=n) < share_on_route, rng.uniform(0.05, 11.0, n), 21.0)
        monkeypatch.setattr(btyd, "_PARTS", 1)
        alone = btyd._hyp2f1_one(b, c, z)
        monkeypatch.setattr(btyd, "_PARTS", parts)
        assert np.array_equal(btyd._hyp2f1_one(b, c, z), alone, equal_nan=True), share_on_route
        # scipy's own 2F1 is off by up to ~1e-10 near z = 1 (against mpmath; the route is exact there)
        np.testing.assert_allclose(alone, special.hyp2f1(1.0, b, c, z), rtol=1e-9)


def test_hypergeometric_near_one_by_the_incomplete_beta_matches_scipy_and_the_integral():
    """2F1(1, b; c; z) with z near 1 and a small c - b comes from the incomplete beta (scipy's series is slow
    there): the values agree with scipy's 2F1 and with Euler's integral, on both sides of the routing limits.
    A whole-number c - b (where the recurrence would divide by zero) is left to scipy."""
    from relhealth import btyd

    gaps = np.array([0.05, 0.21, 0.79, 1.79, 3.5, 7.21, 11.9, 12.5, 14.3])
    grid = np.array([(b, b + gap, z) for b in (1.01, 5.0, 21.0, 60.0) for gap in gaps
                     for z in (0.5, 0.9, 0.95, 0.99, 0.999, 0.9999)])
    b, c, z = grid.T
    ours = btyd._hyp2f1_one(b, c, z)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, special.hyp2f1(1.0, b, c, z), rtol=1e-11)
    for i in range(0, len(grid), 5):  # Euler: (c-1) * int_0^1 (1-u)^(c-2) (1-z u)^(-b) du
        if c[i] < 2:  # (1-u)^(c-2) unbounded at 1: quad's algebraic weight takes it
            integral = integrate.quad(lambda u: (1 - z[i] * u) ** -b[i], 0, 1, weight="alg", wvar=(0.0, c[i] - 2),
                                      epsabs=0, epsrel=1e-12, limit=200)[0]
        else:
            near_one = [1 - k * (1 - z[i]) for k in (1, 10, 100) if k * (1 - z[i]) < 1]
            integral = integrate.quad(lambda u: np.exp((c[i] - 2) * np.log1p(-u) - b[i] * np.log1p(-z[i] * u)),
                                      0, 1, points=near_one, epsabs=0, epsrel=1e-12, limit=200)[0]
        assert ours[i] == pytest.approx((c[i] - 1) * integral, rel=1e-9), grid[i]
    whole = np.array([(b, b + gap, z) for b in (1.01, 21.0) for gap in (1.0, 2.0, 5.0) for z in (0.95, 0.999)]).T
    assert np.array_equal(btyd._hyp2f1_one(*whole), special.hyp2f1(1.0, *whole), equal_nan=True)
    assert btyd._hyp2f1_one(21.0, np.array([[21.5, 30.0]]), 0.999).shape == (1, 2)


def test_distinct_patterns_are_those_numpy_finds_in_the_same_order():
    from relhealth.fitting import unique_rows

    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 500):
        x, t = rng.integers(0, 6, n).astype(float), np.round(rng.uniform(0, 3, n), 1)
        uniq, inverse, counts = np.unique(np.column_stack([x, t]), axis=0, return_inverse=True, return_counts=True)
        (ux, ut), ours_inverse, ours_counts = unique_rows(x, t)
        assert np.array_equal(np.column_stack([ux, ut]), uniq.reshape(-1, 2))
        assert np.array_equal(ours_inverse, inverse.ravel()) and np.array_equal(ours_counts, counts)
        assert np.array_equal(ux[ours_inverse], x) and np.array_equal(ut[ours_inverse], t)


def test_without_threads_the_tail_integral_is_computed_here_with_the_same_values(monkeypatch):
    from relhealth import btyd

    class NoThreads:
        def submit(self, *args):
            raise RuntimeError("can't start new thread")

    rng = np.random.default_rng(6)
    n = 2 * btyd._SPLIT_FROM
    b, z = 0.8 + rng.integers(0, 60, n), rng.uniform(0.5, 0.9999, n)
    c = b + np.where(rng.uniform(size=n) < 0.3, rng.uniform(0.05, 11.0, n), 21.0)
    monkeypatch.setattr(btyd, "_PARTS", 1)
    alone = btyd._hyp2f1_one(b, c, z)
    monkeypatch.setattr(btyd, "_PARTS", 2)
    monkeypatch.setattr(btyd, "_pool", NoThreads())
    assert np.array_equal(btyd._hyp2f1_one(b, c, z), alone)
    assert btyd._PARTS == 1  # and it does not try again
