"""The hospital's forecasting models: ward admissions, ward census, and their backtest.

Two global models are trained across all wards (daily, weekday and day-of-year features):
one on daily admissions, one on the census itself. The census is then forecast two ways:

``flow``    today's patients leave by the ward's length-of-stay distribution (estimated from
            admissions and census, :mod:`tools.forecasting.los`) and forecast admissions
            arrive and stay by the same distribution (Monte Carlo);
``direct``  the census model's own quantiles.

Both are scored by a rolling-origin backtest over the last ``backtest_days`` days, which the
models never saw: they are trained on the data before that window, every day of the window
is a forecast origin, and each horizon 1..28 gets its MASE (seasonal naive scale, period 7,
from the history before the window) and its P10..P90 coverage. Each ward's census forecast
uses the method with the lower mean backtest MASE over horizons 1..14 for that ward.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from knowledge.hospital import Hospital
from tools.forecasting.data import Dataset, Series
from tools.forecasting.los import fit_los, mean_stay, simulate_census
from tools.forecasting.metrics import QUANTILES, mase_scale
from tools.forecasting.training import GlobalModel, ModelConfig, make_panel

HORIZON = 28
SEASON = 7
REPORT_HORIZONS = (1, 7, 14)
I10, I50, I90 = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)


@dataclass(frozen=True)
class WardConfig:
    """How the ward models are trained and backtested (part of the checkpoint's identity)."""

    context: int = 56
    hidden: int = 64
    layers: int = 2
    steps: int = 300
    batch: int = 256
    members: int = 2
    seed: int = 0
    backtest_days: int = 84
    los_days: int = 365
    n_sims: int = 500
    arch: str = "tide"
    threads: int = 1

    def model_config(self) -> ModelConfig:
        """The :class:`ModelConfig` of both ward models (daily, 28 days ahead)."""
        return ModelConfig(
            horizon=HORIZON,
            season=SEASON,
            freq="D",
            context=self.context,
            arch=self.arch,
            hidden=self.hidden,
            layers=self.layers,
            steps=self.steps,
            batch=self.batch,
            members=self.members,
            seed=self.seed,
            min_context=14,
        )


def ward_series(hospital: Hospital, ward_id: str, column: str) -> Series:
    """A ward's daily ``column`` on a regular calendar (missing days are NaN)."""
    s = hospital.history(ward_id, column)
    idx = pd.date_range(s.index.min(), s.index.max(), freq="D")
    return Series(ward_id, idx, s.reindex(idx).to_numpy(dtype=float))


def ward_dataset(hospital: Hospital, ward_ids: list[str], column: str) -> Dataset:
    """All ``ward_ids`` as one dataset of daily series."""
    return Dataset([ward_series(hospital, w, column) for w in ward_ids], "D")


@dataclass
class WardModels:
    """Trained ward models, their length-of-stay estimates and backtest.

    Attributes:
        admissions, census: the global models.
        wards: ward ids, in the models' row order.
        los: per ward, the stay distribution p[0..60] from the latest ``los_days``.
        backtest: per ward and method (``flow``, ``direct``, ``admissions``), per horizon
            1..28: ``{"mase": [...], "coverage": [...], "origins": [...]}``.
        method: per ward, the census method its forecasts use.
        data_end: the last date of the data they were trained on (ISO).
        fingerprint: hash of the data and config they were trained on.
        train_seconds: wall time of training and backtest.
    """

    admissions: GlobalModel
    census: GlobalModel
    wards: list[str]
    los: dict[str, list[float]]
    backtest: dict[str, dict[str, dict[str, list[float]]]]
    method: dict[str, str]
    data_end: str
    fingerprint: str
    config: dict
    train_seconds: float = 0.0

    def meta(self) -> dict:
        """Everything but the networks, as plain values (stored in the checkpoint)."""
        return {
            "wards": self.wards,
            "los": self.los,
            "backtest": self.backtest,
            "method": self.method,
            "data_end": self.data_end,
            "fingerprint": self.fingerprint,
            "config": self.config,
            "train_seconds": self.train_seconds,
        }

    @classmethod
    def from_parts(cls, models: dict[str, GlobalModel], meta: dict) -> WardModels:
        """The ward models from their checkpointed networks and metadata."""
        return cls(models["admissions"], models["census"], **meta)

    def backtest_summary(self, ward_id: str, method: str, days: int) -> tuple[float, float, int]:
        """Mean MASE and coverage over horizons 1..days, and the origins per horizon."""
        b = self.backtest[ward_id][method]
        ms = [v for v in b["mase"][:days] if v == v]
        cv = [v for v in b["coverage"][:days] if v == v]
        n = int(b["origins"][days - 1]) if len(b["origins"]) >= days else 0
        return float(np.mean(ms)) if ms else float("nan"), float(np.mean(cv)) if cv else 0.0, n


def _flow_quantiles(
    p: np.ndarray,
    adm: np.ndarray,
    census_now: float,
    adm_q: np.ndarray,
    n_sims: int,
    seed: int,
) -> np.ndarray:
    return simulate_census(p, adm, census_now, adm_q, QUANTILES, n_sims=n_sims, seed=seed)


def _score(actual: np.ndarray, q: np.ndarray, scale: float) -> tuple[list, list, list]:
    """Per horizon: MASE (this scale), coverage, count. ``actual`` (O, H), ``q`` (O, H, Q)."""
    err = np.abs(actual - q[..., I50]) / scale
    inside = (actual >= q[..., I10]) & (actual <= q[..., I90])
    ok = np.isfinite(actual) & np.isfinite(q[..., I50])
    mase_h, cov_h, n_h = [], [], []
    for h in range(actual.shape[1]):
        m = ok[:, h]
        n_h.append(int(m.sum()))
        mase_h.append(float(err[m, h].mean()) if m.any() else float("nan"))
        cov_h.append(float(inside[m, h].mean()) if m.any() else float("nan"))
    return mase_h, cov_h, n_h


def train_ward_models(
    hospital: Hospital,
    ward_ids: list[str],
    cfg: WardConfig,
    *,
    fingerprint: str = "",
    device: str | None = None,
    progress: bool = False,
) -> WardModels:
    """Train both models on all but the last ``backtest_days``, backtest, pick methods.

    The models serve forecasts as trained (they condition on the latest context window, so
    the held-back weeks still inform every forecast); the length of stay is re-estimated on
    the latest ``los_days`` for serving.
    """
    t0 = time.perf_counter()
    mc = cfg.model_config()
    adm_all = ward_dataset(hospital, ward_ids, "admissions")
    cen_all = ward_dataset(hospital, ward_ids, "census")
    B = cfg.backtest_days
    cut = lambda d: Dataset([s.head(len(s) - B) for s in d.series], "D")  # noqa: E731
    adm_tr, cen_tr = cut(adm_all), cut(cen_all)
    fit: dict[str, Any] = dict(device=device, progress=progress, threads=cfg.threads)
    adm_model = GlobalModel.fit(adm_tr, mc, **fit)
    cen_model = GlobalModel.fit(cen_tr, mc, **fit)

    # rolling origins: each of the last B days' predecessors, in full-data coordinates
    adm_panel = make_panel(adm_all, mc, adm_model.device)
    cen_panel = make_panel(cen_all, mc, cen_model.device)
    backtest: dict = {}
    method: dict = {}
    los: dict = {}
    for i, w in enumerate(ward_ids):
        a, c = adm_all.series[i].y, cen_all.series[i].y
        T = len(c)
        ends = np.arange(T - B - 1, T - 1)
        rows = np.full(len(ends), i)
        adm_q = adm_model.predict_panel(adm_panel, rows, ends)
        cen_q = cen_model.predict_panel(cen_panel, rows, ends)
        p_bt = fit_los(a[: T - B][-cfg.los_days :], c[: T - B][-cfg.los_days :])
        flow_q = np.stack(
            [
                _flow_quantiles(p_bt, a[: e + 1], c[e], adm_q[k], cfg.n_sims, cfg.seed + k)
                if np.isfinite(c[e])
                else np.full_like(adm_q[k], np.nan)
                for k, e in enumerate(ends)
            ]
        )
        idx = ends[:, None] + np.arange(1, HORIZON + 1)[None, :]
        pad = lambda y: np.concatenate([y, np.full(HORIZON + 1, np.nan)])  # noqa: E731
        act_c, act_a = pad(c)[idx], pad(a)[idx]
        sc_c, sc_a = mase_scale(c[: T - B], SEASON), mase_scale(a[: T - B], SEASON)
        bt = {}
        for name, act, q, sc in (
            ("flow", act_c, flow_q, sc_c),
            ("direct", act_c, cen_q, sc_c),
            ("admissions", act_a, adm_q, sc_a),
        ):
            m_h, c_h, n_h = _score(act, q, sc)
            bt[name] = {"mase": m_h, "coverage": c_h, "origins": n_h}
        backtest[w] = bt
        key = lambda m, bt=bt: np.nanmean(bt[m]["mase"][:14])  # noqa: E731
        method[w] = "flow" if key("flow") <= key("direct") else "direct"
        los[w] = fit_los(a[-cfg.los_days :], c[-cfg.los_days :]).tolist()
    end = max(s.index[-1] for s in cen_all.series)
    return WardModels(
        adm_model,
        cen_model,
        list(ward_ids),
        los,
        backtest,
        method,
        end.date().isoformat(),
        fingerprint,
        asdict(cfg),
        time.perf_counter() - t0,
    )


def stay_days(models: WardModels, ward_id: str) -> float:
    """The ward's estimated mean length of stay, days."""
    return mean_stay(np.asarray(models.los[ward_id]))


def backtest_rows(models: WardModels) -> list[dict]:
    """One row per ward, target and horizon in :data:`REPORT_HORIZONS`."""
    rows = []
    for w in models.wards:
        for target in ("flow", "direct", "admissions"):
            b = models.backtest[w][target]
            for h in REPORT_HORIZONS:
                rows.append(
                    {
                        "ward": w,
                        "target": "admissions" if target == "admissions" else f"census-{target}",
                        "used": target == models.method[w] or target == "admissions",
                        "horizon": h,
                        "mase": round(b["mase"][h - 1], 3),
                        "coverage": round(b["coverage"][h - 1], 3),
                        "origins": b["origins"][h - 1],
                    }
                )
    return rows


def format_backtest(rows: list[dict]) -> str:
    """The rows as a table: a line per ward and target, MASE/coverage per horizon."""
    hs = sorted({r["horizon"] for r in rows})
    head = f"{'ward':<8}{'target':<16}" + "".join(f"{'h=' + str(h):>16}" for h in hs)
    lines = [head, " " * 24 + "".join(f"{'MASE  cover':>16}" for _ in hs), "-" * len(head)]
    by: dict[tuple, dict] = {}
    for r in rows:
        by.setdefault((r["ward"], r["target"], r["used"]), {})[r["horizon"]] = r
    for (w, t, used), cells in by.items():
        mark = "*" if used else " "
        line = f"{w:<8}{(t + mark):<16}"
        line += "".join(f"{cells[h]['mase']:>9.3f}{cells[h]['coverage']:>7.2f}" for h in hs)
        lines.append(line)
    n = rows[0]["origins"] if rows else 0
    lines.append(f"* the census method each ward's forecasts use; {n} daily origins at h=1")
    return "\n".join(lines)
