"""The combination of the torch model with the statistical forecast, chosen on a fold."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from tools.forecasting import bench, combination
from tools.forecasting.baselines import Forecast
from tools.forecasting.metrics import QUANTILES, panel_sql

Z = np.array([NormalDist().inv_cdf(t) for t in QUANTILES])


def _fold(n=400, h=6, seed=0):
    """Actuals N(mu, 1) per series; a 'model' whose median is right but whose band is half as
    wide as it should be; a 'stats' forecast that is well calibrated around a biased median."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(20, 40, (n, 1)) * np.ones((1, h))
    y = mu + rng.normal(0, 1, (n, h))
    nn = mu[..., None] + 0.5 * Z
    stats = mu[..., None] + 0.6 + Z
    return y, nn, stats, np.ones(n)


def test_constant_combination_is_the_first_rule():
    y, nn, stats, _ = _fold(10, 3)
    c = combination.Combination.constant(3, 0.7, 1.3)
    q = c.apply(nn, stats)
    mix = 0.7 * nn + 0.3 * stats
    med = mix[..., 4:5]
    np.testing.assert_allclose(q, np.maximum(med + 1.3 * (mix - med), 0))
    np.testing.assert_allclose(bench.combine(nn, Forecast(stats, 0), 0.7, 1.3), q)
    np.testing.assert_allclose(
        c.apply(nn, None), np.maximum(nn[..., 4:5] + 1.3 * (nn - nn[..., 4:5]), 0)
    )
    assert (np.diff(q, axis=-1) >= 0).all()


def test_per_level_weights_and_band_factors_follow_each_level_loss():
    y, nn, stats, scale = _fold()
    c = combination.fit(nn, stats, y, scale, "quantile")
    assert c.weight.shape == (6, 9) and c.scheme == "quantile"
    assert c.weight[0, 4] >= 0.8  # the model's median is the unbiased one
    # the model's band is half the truth's: the fold widens it (or leans on stats' tails)
    q = c.apply(nn, stats)
    assert panel_sql(y, q, scale) < panel_sql(y, bench.combine(nn, None, 1.0, 1.0), scale) - 0.01
    cov = np.mean((y >= q[..., 0]) & (y <= q[..., 8]))
    assert 0.74 < cov < 0.86
    g = combination.fit(nn, stats, y, scale, "global")
    assert g.scheme == "global" and len(set(g.weight.ravel())) == 1
    assert combination.sql(y, q, scale) <= combination.sql(y, g.apply(nn, stats), scale) + 1e-9


def test_auto_picks_by_cross_validation_across_series_and_says_so():
    y, nn, stats, scale = _fold()
    c = combination.fit(nn, stats, y, scale, "auto")
    assert set(c.cv_sql) == set(combination.AUTO_SCHEMES)
    assert c.scheme == min(c.cv_sql, key=lambda s: (round(c.cv_sql[s], 6), s != "global"))
    out = c.to_json()
    assert out["scheme"] == c.scheme and len(out["width_by_level"]) == 9
    # the model alone: nothing to weigh, only the band
    alone = combination.fit(nn, None, y, scale, "auto")
    assert (alone.weight == 1).all()
    with pytest.raises(ValueError, match="unknown combination scheme"):
        combination.fit(nn, stats, y, scale, "best")


def _brute_width(folds, weight):
    """The band factor of lowest SQL over the folds pooled, by trying every one."""
    h = folds[0][1].shape[1]

    def loss(k):
        c = combination.Combination.constant(h, weight, k)
        q = np.concatenate([c.apply(nn, st) for _, nn, st, _ in folds])
        y = np.concatenate([f[0] for f in folds])
        return combination.sql(y, q, np.concatenate([f[3] for f in folds]))

    return min(combination.WIDTHS, key=lambda k: (round(loss(k), 6), k))


def test_pooled_band_is_the_lowest_sql_over_this_and_the_earlier_folds():
    y, nn, stats, scale = _fold()
    g = combination.fit(nn, stats, y, scale, "global")
    c = combination.fit(nn, stats, y, scale, "pooled")
    assert c.scheme == "pooled" and (c.weight == g.weight).all()  # the weight: global's rule
    w = float(c.weight[0, 0])
    assert c.width[0] == _brute_width([(y, nn, stats, scale)], w)
    assert c.width[4] == 1 and len(set(np.delete(c.width, 4))) == 1

    # an earlier fold where the same model's band was too wide (a quarter of the noise):
    # pooled with it the band narrows, to the lowest SQL over both; the weight is still
    # this fold's
    ye, nne, statse, scalee = _fold(300, seed=1)
    ye = nne[..., 4] + 0.25 * (ye - nne[..., 4])
    earlier = (combination.Fold(nne, statse, ye, scalee),)
    p = combination.fit(nn, stats, y, scale, "pooled", earlier)
    assert (p.weight == c.weight).all() and p.width[0] < c.width[0]
    assert p.width[0] == _brute_width([(y, nn, stats, scale), (ye, nne, statse, scalee)], w)
    # a fold without the statistical forecast cannot be scored with this weight: left out
    alone = (combination.Fold(nne, None, ye, scalee),)
    assert (combination.fit(nn, stats, y, scale, "pooled", alone).width == c.width).all()
    # the other schemes ignore earlier folds
    assert (combination.fit(nn, stats, y, scale, "global", earlier).width == g.width).all()


def test_monthly_data_defaults_to_the_pooled_band():
    from tools.forecasting.data import Dataset

    assert bench.default_combination(Dataset([], "MS")) == "pooled"
    assert bench.default_combination(Dataset([], "D")) == "global"
