"""How ``wardwise`` mixes the torch model's quantiles with the statistical ones, and its band.

A :class:`Combination` holds, for every horizon step and quantile level, the torch model's
weight against the statistical forecast, and for every quantile level a factor on its
distance from P50. Everything in it is chosen on a validation fold (data before the
forecast's cutoff) by :func:`fit`; :meth:`Combination.apply` then mixes the real forecasts.

Schemes (how much the fold may choose):

``global``        one weight for every step and quantile (lowest mean MASE of P50), one band
                  factor for every quantile (P10-P90 coverage nearest 80%): the first rule;
``quantile``      one weight per quantile level and one band factor per level, each the
                  lowest scaled quantile loss of that level (fev's SQL, level by level);
``step-quantile`` as ``quantile``, with a weight per horizon step and level;
``pooled``        the weight as ``global`` (this fold's P50 MASE), one band factor: the lowest
                  SQL (the metric the band is scored on) over this fold and the earlier folds
                  given to :func:`fit` (a rolling-window run passes its earlier windows'
                  validation folds, all before the cutoff). One 12-month fold picked the
                  band badly in some Monash windows (1.45 where 1.05 was right);
                  docs/forecasting.md, fifth round.

:func:`fit` with ``scheme="auto"`` picks the scheme by two-fold cross-validation across
series on the same fold: each scheme is fitted on half the series and scored (SQL) on the
other half, both ways round; the scheme with the lower held-out SQL is then fitted on all
the series. A flexible scheme that only fits the fold's noise loses there; a shift that
every series shares in the fold's year (a common shock) it cannot see, since both halves
have it. On the Monash windows that is what happened (docs/forecasting.md), so the bench's
default is ``global``.

    comb = fit(vq, vstats_q, vtest, scales, scheme="auto")
    q = comb.apply(nn_q, stats_q)          # (n_series, h, 9), sorted
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tools.forecasting.metrics import QUANTILES

SCHEMES = ("global", "quantile", "step-quantile", "pooled")
AUTO_SCHEMES = ("global", "quantile", "step-quantile")  # what ``auto`` cross-validates
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
WIDTHS = tuple(round(0.5 + 0.05 * i, 2) for i in range(31))
I10, I50, I90 = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)
TAU = np.asarray(QUANTILES)


@dataclass(frozen=True)
class Combination:
    """The model's weights and the band factors chosen on a validation fold.

    Attributes:
        weight: the torch model's weight per horizon step and quantile, shape (h, 9), 0..1
            (the statistical forecast gets ``1 - weight``).
        width: per quantile level, the factor on its distance from P50, shape (9,) (1 at P50).
        scheme: which of :data:`SCHEMES` chose them.
        cv_sql: per scheme tried, its cross-validated SQL on the fold (``auto`` only).
    """

    weight: np.ndarray
    width: np.ndarray
    scheme: str = "global"
    cv_sql: dict[str, float] | None = None

    @classmethod
    def constant(cls, horizon: int, weight: float, width: float) -> Combination:
        """One weight and one band factor for every step and quantile."""
        wid = np.full(len(QUANTILES), float(width))
        wid[I50] = 1.0
        return cls(np.full((horizon, len(QUANTILES)), float(weight)), wid)

    def apply(self, nn_q: np.ndarray, stats_q: np.ndarray | None) -> np.ndarray:
        """The combined quantiles.

        Args:
            nn_q: the torch model's quantiles, shape (n_series, h, 9).
            stats_q: the statistical forecast's, same shape, or None (the model alone: the
                weights are then ignored, the band factors applied).

        Returns:
            Shape (n_series, h, 9), sorted along the last axis, lower quantiles clipped at 0.
        """
        h = nn_q.shape[1]
        q = nn_q
        if stats_q is not None:
            w = self.weight[:h][None]
            q = w * nn_q + (1 - w) * stats_q
        q = np.sort(q, axis=-1)
        med = q[..., I50 : I50 + 1]
        out = med + self.width * (q - med)
        out[..., :I50] = np.maximum(out[..., :I50], 0)
        return np.sort(out, axis=-1)

    @property
    def mean_weight(self) -> float:
        """The P50 weight averaged over steps (the one number a table shows)."""
        return round(float(self.weight[:, I50].mean()), 3)

    def to_json(self) -> dict:
        """Plain values for a bench's notes: scheme, weights per level, band factors."""
        out: dict = {
            "scheme": self.scheme,
            "weight_p50": self.mean_weight,
            "weight_by_level": [round(float(v), 3) for v in self.weight.mean(0)],
            "width_by_level": [round(float(v), 2) for v in self.width],
        }
        if self.scheme == "step-quantile":
            out["weight_p50_by_step"] = [round(float(v), 2) for v in self.weight[:, I50]]
        if self.cv_sql:
            out["cv_sql"] = {k: round(v, 5) for k, v in self.cv_sql.items()}
        return out


def level_loss(y: np.ndarray, q: np.ndarray, scale: np.ndarray, tau: float) -> np.ndarray:
    """Scaled quantile loss at level ``tau`` per step: ``2 |(y - q)(1{y <= q} - tau)| / scale``
    averaged over series (NaN actuals left out).

    Args:
        y: actuals, shape (n, h).
        q: the level's forecast, shape (n, h) (or (k, n, h) for k candidates at once).
        scale: per series, shape (n,).

    Returns:
        Shape (h,) (or (k, h)).
    """
    with np.errstate(invalid="ignore"):
        loss = 2 * np.abs((y - q) * ((y <= q) - tau)) / scale[:, None]
    return np.nanmean(np.where(np.isfinite(loss), loss, np.nan), axis=-2)


def sql(y: np.ndarray, q: np.ndarray, scale: np.ndarray) -> float:
    """fev's SQL over P10..P90 with these scales (NaN actuals left out)."""
    return float(
        np.mean([np.nanmean(level_loss(y, q[..., j], scale, t)) for j, t in enumerate(TAU)])
    )


def _p50_weight(nn_q, stats_q, y, scale) -> float:
    """The one model weight of lowest mean MASE of P50 on the fold (1 without stats)."""
    h = nn_q.shape[1]
    weights = WEIGHTS if stats_q is not None else (1.0,)
    med = {
        w: np.nanmean(
            level_loss(y, Combination.constant(h, w, 1).apply(nn_q, stats_q)[..., I50], scale, 0.5)
        )
        for w in weights
    }
    return min(weights, key=lambda w: (round(float(med[w]), 6), -w))


def _global(nn_q, stats_q, y, scale) -> Combination:
    """The first rule: one weight by mean MASE of P50, one band factor by 80% coverage."""
    h = nn_q.shape[1]
    best = _p50_weight(nn_q, stats_q, y, scale)
    cov = {}
    ok = np.isfinite(y)
    for k in WIDTHS:
        q = Combination.constant(h, best, k).apply(nn_q, stats_q)
        inside = (y >= q[..., I10]) & (y <= q[..., I90])
        # per series, then the mean over series (as the bench's coverage)
        with np.errstate(invalid="ignore"):
            per = np.where(ok, inside, 0).sum(1) / np.maximum(ok.sum(1), 1)
        cov[k] = float(np.mean(per[ok.any(1)]))
    width = min(WIDTHS, key=lambda k: (abs(cov[k] - 0.8), k))
    return Combination.constant(h, best, width)


@dataclass(frozen=True)
class Fold:
    """One validation fold's forecasts and actuals, kept for later windows' band choice.

    Attributes:
        nn_q: the torch model's quantiles, shape (n, h, 9).
        stats_q: the statistical forecast's, same shape, or None.
        y: actuals, shape (n, h).
        scale: per series, the MASE scale of its history before the fold, shape (n,).
    """

    nn_q: np.ndarray
    stats_q: np.ndarray | None
    y: np.ndarray
    scale: np.ndarray


def _pooled(nn_q, stats_q, y, scale, earlier: tuple[Fold, ...]) -> Combination:
    """``global``'s weight on this fold; one band factor by SQL over this and earlier folds."""
    h = nn_q.shape[1]
    weight = _p50_weight(nn_q, stats_q, y, scale)
    same = [f for f in earlier if (f.stats_q is None) == (stats_q is None) and f.y.shape[1] == h]
    parts = [Fold(nn_q, stats_q, y, scale), *same]
    all_y = np.concatenate([f.y for f in parts])
    all_scale = np.concatenate([f.scale for f in parts])
    losses = {}
    for k in WIDTHS:
        c = Combination.constant(h, weight, k)
        losses[k] = sql(
            all_y, np.concatenate([c.apply(f.nn_q, f.stats_q) for f in parts]), all_scale
        )
    width = min(WIDTHS, key=lambda k: (round(losses[k], 6), k))
    return replace(Combination.constant(h, weight, width), scheme="pooled")


def _per_level(nn_q, stats_q, y, scale, by_step: bool, scheme: str) -> Combination:
    """A weight per level (and step) and a band factor per level, by that level's loss."""
    n, h, nq = nn_q.shape
    weight = np.ones((h, nq))
    if stats_q is not None:
        ws = np.asarray(WEIGHTS)[:, None, None]
        for j, t in enumerate(TAU):
            cand = ws * nn_q[None, ..., j] + (1 - ws) * stats_q[None, ..., j]  # (k, n, h)
            loss = level_loss(y, cand, scale, t)  # (k, h)
            if by_step:
                weight[:, j] = np.asarray(WEIGHTS)[np.nanargmin(loss, axis=0)]
            else:
                weight[:, j] = WEIGHTS[int(np.nanargmin(np.nanmean(loss, axis=1)))]
    base = Combination(weight, np.ones(nq), scheme).apply(nn_q, stats_q)
    med = base[..., I50]
    width = np.ones(nq)
    for j, t in enumerate(TAU):
        if j == I50:
            continue
        ks = np.asarray(WIDTHS)[:, None, None]
        cand = med[None] + ks * (base[None, ..., j] - med[None])
        if j < I50:
            cand = np.maximum(cand, 0)
        loss = np.nanmean(level_loss(y, cand, scale, t), axis=1)
        width[j] = WIDTHS[int(np.nanargmin(loss))]
    return Combination(weight, width, scheme)


def _fit_one(scheme, nn_q, stats_q, y, scale, earlier: tuple[Fold, ...] = ()) -> Combination:
    if scheme == "pooled":
        return _pooled(nn_q, stats_q, y, scale, earlier)
    if scheme == "global":
        return _global(nn_q, stats_q, y, scale)
    if scheme in ("quantile", "step-quantile"):
        return _per_level(nn_q, stats_q, y, scale, scheme == "step-quantile", scheme)
    raise ValueError(f"unknown combination scheme {scheme!r}; one of {SCHEMES} or auto")


def fit(
    nn_q: np.ndarray,
    stats_q: np.ndarray | None,
    y: np.ndarray,
    scale: np.ndarray,
    scheme: str = "auto",
    earlier: tuple[Fold, ...] = (),
) -> Combination:
    """Choose the combination on a validation fold.

    Args:
        nn_q: the torch model's validation forecasts, shape (n, h, 9).
        stats_q: the statistical forecast's, same shape, or None (the model alone).
        y: the fold's actuals, shape (n, h); NaN where missing.
        scale: per series, the MASE scale of its history before the fold, shape (n,).
        scheme: one of :data:`SCHEMES`, or ``auto`` (two-fold cross-validation across
            series, among :data:`AUTO_SCHEMES`).
        earlier: earlier validation folds (``pooled`` only; the others ignore them).
    """
    y = np.asarray(y, dtype=float)
    scale = np.asarray(scale, dtype=float)
    if scheme != "auto":
        return _fit_one(scheme, nn_q, stats_q, y, scale, earlier)
    n = len(y)
    halves = [np.arange(n) % 2 == 0, np.arange(n) % 2 == 1]
    cv: dict[str, float] = {}
    if n >= 4:
        for s in AUTO_SCHEMES:
            losses = []
            for a, b in (halves, halves[::-1]):
                c = _fit_one(s, nn_q[a], None if stats_q is None else stats_q[a], y[a], scale[a])
                q = c.apply(nn_q[b], None if stats_q is None else stats_q[b])
                losses.append(sql(y[b], q, scale[b]))
            cv[s] = float(np.mean(losses))
    best = min(cv, key=lambda s: (round(cv[s], 6), AUTO_SCHEMES.index(s))) if cv else "global"
    c = _fit_one(best, nn_q, stats_q, y, scale)
    return Combination(c.weight, c.width, best, cv or None)
