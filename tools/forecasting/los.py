"""Length of stay from a ward's daily counts, and the census it implies.

A patient admitted on day t with a stay of s days is in a bed at midnight on days
t .. t+s-1, so the census is admissions convolved with the survival of the stay:

    census[t] = sum_k admissions[t - k] * S(k),     S(k) = P(stay > k), S(0) = 1.

Writing S(k) = sum_{j > k} p_j with p_j >= 0 (the stay's distribution) makes the census a
non-negative combination of trailing admission sums, so :func:`fit_los` recovers the ward's
length-of-stay distribution by non-negative least squares from daily admissions and census
alone, with no patient-level data.

:func:`simulate_census` forecasts the census from today's census, the survival of those
patients, and forecast admissions who then stay by the same distribution (Monte Carlo).
"""

from __future__ import annotations

import numpy as np

MAX_STAY = 60


def fit_los(admissions: np.ndarray, census: np.ndarray, max_stay: int = MAX_STAY) -> np.ndarray:
    """The stay distribution ``p`` (``p[j]`` = P(stay = j days), j = 0..max_stay) by NNLS.

    Args:
        admissions: daily admissions, shape (T,); gaps (NaN) are linearly filled.
        census: daily census at midnight, shape (T,); days with a gap are not fitted.
        max_stay: longest stay considered, days.

    Returns:
        shape (max_stay + 1,), sums to 1; ``p[0]`` is 0 (a patient in a bed stays a day).
    """
    from scipy.optimize import nnls

    a = _fill(np.asarray(admissions, dtype=float))
    c = np.asarray(census, dtype=float)
    T = len(a)
    K = min(max_stay, max(T // 3, 2))
    cs = np.concatenate([[0.0], np.cumsum(a)])
    rows = np.arange(K, T)
    rows = rows[np.isfinite(c[rows])]
    if len(rows) < 10 or a.sum() <= 0:
        raise ValueError("too little admissions and census history to estimate length of stay")
    # A[t, j-1] = admissions over days t-j+1 .. t (the patients admitted in the last j days)
    j = np.arange(1, K + 1)
    A = cs[rows[:, None] + 1] - cs[rows[:, None] + 1 - j[None, :]]
    # a soft constraint that the probabilities sum to one, weighted like one census row
    w = np.sqrt(len(rows)) * np.mean(c[rows]) / max(np.mean(a), 1e-9) / max(K, 1)
    A = np.vstack([A, w * np.ones(K)])
    b = np.concatenate([c[rows], [w]])
    p, _ = nnls(A, b, maxiter=50 * K)
    out = np.zeros(max_stay + 1)
    out[1 : K + 1] = p
    if out.sum() <= 0:
        out[1] = 1.0
    return out / out.sum()


def survival(p: np.ndarray) -> np.ndarray:
    """S(k) = P(stay > k) for k = 0..len(p)-1 (plus S beyond the support is 0)."""
    return np.clip(1.0 - np.cumsum(p), 0.0, 1.0)


def mean_stay(p: np.ndarray) -> float:
    """Mean length of stay in days (= sum of the survival function)."""
    return float(np.sum(np.arange(len(p)) * p))


def _fill(y: np.ndarray) -> np.ndarray:
    if np.isfinite(y).all():
        return y
    idx = np.arange(len(y))
    ok = np.isfinite(y)
    if not ok.any():
        return np.zeros_like(y)
    return np.interp(idx, idx[ok], y[ok])


def _sample_quantiles(q: np.ndarray, levels: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF samples from quantiles ``q`` (h, Q) at probabilities ``u`` (n, h), with
    linear tails beyond the outer levels."""
    h = q.shape[0]
    out = np.empty_like(u)
    for d in range(h):
        qd = q[d]
        lo_slope = (qd[1] - qd[0]) / (levels[1] - levels[0])
        hi_slope = (qd[-1] - qd[-2]) / (levels[-1] - levels[-2])
        x = np.interp(u[:, d], levels, qd)
        x = np.where(u[:, d] < levels[0], qd[0] - (levels[0] - u[:, d]) * lo_slope, x)
        x = np.where(u[:, d] > levels[-1], qd[-1] + (u[:, d] - levels[-1]) * hi_slope, x)
        out[:, d] = x
    return np.maximum(out, 0.0)


def simulate_census(
    p: np.ndarray,
    admissions_history: np.ndarray,
    census_now: float,
    admissions_quantiles: np.ndarray,
    levels: tuple[float, ...],
    *,
    n_sims: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Census quantiles for the next days from today's patients and forecast admissions.

    Today's census is split into admission cohorts in proportion to ``adm[T-k] * S(k)``;
    each patient still in a bed after k days stays another h days with probability
    ``S(k+h) / S(k)``. Admissions on future day j (sampled from their forecast quantiles)
    are still in a bed on day h >= j with probability ``S(h-j)``.

    Args:
        p: stay distribution from :func:`fit_los`, shape (K+1,).
        admissions_history: daily admissions up to today, shape (T,).
        census_now: today's census.
        admissions_quantiles: forecast admissions quantiles, shape (h, Q).
        levels: the Q quantile levels.
        n_sims: Monte Carlo paths.
        seed: random seed.

    Returns:
        census quantiles at ``levels``, shape (h, Q).
    """
    rng = np.random.default_rng(seed)
    S = survival(p)
    K = len(S)
    Sx = np.concatenate([S, np.zeros(400)])
    a = _fill(np.asarray(admissions_history, dtype=float))[::-1][:K]  # a[k] = adm on T-k
    h = admissions_quantiles.shape[0]
    n_now = max(int(round(census_now)), 0)
    expected = a * S[: len(a)]
    tot = expected.sum()
    ks = np.arange(len(a))
    lv = np.asarray(levels, dtype=float)
    days = np.arange(1, h + 1)
    # probability that one of today's patients is still in a bed after d more days
    if tot > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(S[ks, None] > 0, Sx[ks[:, None] + days[None, :]] / S[ks, None], 0.0)
        stay_on = (expected[:, None] * ratio).sum(0) / tot
    else:  # no admissions on record: today's patients leave as if admitted today
        stay_on = Sx[days]
    stay_on = np.clip(np.nan_to_num(stay_on), 0.0, 1.0)
    u = rng.uniform(size=(n_sims, h))
    adm = _sample_quantiles(np.asarray(admissions_quantiles, dtype=float), lv, u)
    frac = adm - np.floor(adm)
    adm = (np.floor(adm) + (rng.uniform(size=adm.shape) < frac)).astype(np.int64)
    # admitted on day j, still in a bed at midnight of day d >= j: S(d - j); 0 for d < j
    lag = days[:, None] - days[None, :]  # (d, j)
    stay_new = np.where(lag >= 0, Sx[np.maximum(lag, 0)], 0.0)
    new = rng.binomial(adm[:, None, :], stay_new[None, :, :]).sum(axis=2)  # (n_sims, h)
    total = rng.binomial(n_now, stay_on[None, :], size=(n_sims, h)) + new
    out = np.quantile(total, lv, axis=0).T
    return out
