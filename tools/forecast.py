"""Daily census forecasts per ward with P10/P50/P90 and an honest backtest.

The models live in :mod:`tools.forecasting`: a global PyTorch quantile model of daily
admissions and one of the census, trained across all wards; the census is forecast from
today's patients, the ward's length-of-stay distribution and forecast admissions (``flow``),
or by the census model itself (``direct``), whichever backtested better on that ward. The
backtest is rolling-origin over the last 12 weeks, which the models never saw in training.

Checkpoints: with ``checkpoint_dir`` the trained models are saved there and reloaded; a
forecast request never retrains while the checkpoint is fresh, i.e. it was trained with the
same configuration and training code (and torch version) on the same wards and the same
history up to its last day, and the data now ends at most ``max_age_days`` after that.
Without ``checkpoint_dir`` the models are trained on first use and kept for the life of the
:class:`Forecaster`.

Bad input: an unknown ward, a horizon outside 1..28 days (what the models were trained
for), too short a history, negative counts, a ward whose history is mostly gaps or ends
more than a week before the hospital's: each is a :class:`ToolError` with a code. Smaller
gaps are a documented fallback: masked in the models' input and linearly filled for the
length-of-stay fit.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from knowledge.hospital import Hospital
from tools.forecasting.los import simulate_census
from tools.forecasting.metrics import QUANTILES, mase_scale
from tools.forecasting.metrics import coverage as coverage
from tools.forecasting.metrics import mase as mase
from tools.result import Fact, ToolError, ToolResult
from tools.verdicts.forecast import forecast_verdicts

MAX_DAYS = 28
MIN_HISTORY = 8 * 7
MAX_GAP_SHARE = 0.2
MAX_STALE_DAYS = 7
CHECKPOINT = "ward-forecaster.pt"
I10, I50, I90 = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)
METHOD_NAMES = {
    "flow": "census from forecast admissions and the ward's length of stay",
    "direct": "census model",
}


class ForecastDay(BaseModel):
    """One day's forecast: occupied beds (or admissions) at P10, P50 and P90."""

    date: date
    p10: float
    p50: float
    p90: float


class Backtest(BaseModel):
    """How the ward's forecast did on weeks the models never saw (rolling origins)."""

    horizon: int
    mase: float
    coverage: float
    origins: int = 0
    method: str = ""
    mae: float | None = None  # mean absolute error of P50, beds a day: MASE x the ward's scale


class ForecastResult(ToolResult):
    """A ward's forecast: the days, the ward's beds, the backtest and its reading."""

    ward_id: str
    ward_name: str
    ward_name_zh: str
    beds: int
    days: list[ForecastDay]
    backtest: Backtest
    method: str = ""
    admissions: list[ForecastDay] = []
    mean_stay_days: float | None = None


class Forecaster:
    """Ward census forecasts from the global models, trained or loaded on first use.

    Args:
        hospital: the wards and their daily history.
        checkpoint_dir: where to save and reload trained models (None: memory only).
        device: ``cpu``, ``cuda`` or None (CUDA when present).
        config: a :class:`tools.forecasting.wards.WardConfig` (None: the default).
        max_age_days: how many days of newer data a checkpoint stays fresh for.
        progress: show progress bars while training.
    """

    def __init__(
        self,
        hospital: Hospital,
        *,
        checkpoint_dir: str | Path | None = None,
        device: str | None = None,
        config=None,
        max_age_days: int = 28,
        progress: bool = False,
    ):
        from tools.forecasting.wards import WardConfig  # heavy: torch

        self.hospital = hospital
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.device = device
        self.config = config or WardConfig()
        self.max_age_days = max_age_days
        self.progress = progress
        self.trained_now = False
        self._models = None
        self._cache: dict[tuple[str, int], ForecastResult] = {}
        self._panels: dict[str, tuple] = {}  # column -> (models, dataset, quantiles)
        self._per_ward: dict[tuple[str, str], object] = {}  # (what, ward_id) -> value
        self._lock = threading.Lock()  # concurrent first requests train the models once

    # ----------------------------------------------------------------- models
    def _usable_wards(self) -> list[str]:
        ids = []
        for w in self.hospital.wards:
            n = int((self.hospital.daily.ward_id == w.ward_id).sum())
            if n >= MIN_HISTORY + MAX_DAYS:
                ids.append(w.ward_id)
        return ids

    def _fingerprint(self, ward_ids: list[str], end: pd.Timestamp) -> str:
        from tools.forecasting.checkpoint import FORMAT, code_digest, fingerprint  # heavy: torch

        d = self.hospital.daily
        d = d[d.ward_id.isin(ward_ids) & (d.date <= end)]
        cols = ["date", "ward_id", "admissions", "census"]
        d = d[cols].sort_values(["ward_id", "date"]).reset_index(drop=True)
        return fingerprint(d, (FORMAT, code_digest(), sorted(ward_ids), asdict(self.config)))

    def models(self):
        """The trained ward models: loaded from a fresh checkpoint, else trained (and saved).

        Raises:
            ToolError: no ward has enough history to train on.
        """
        with self._lock:
            if self._models is None:
                self._models = self._load_or_train()
            return self._models

    def _load_or_train(self):
        from tools.forecasting import checkpoint  # heavy: torch
        from tools.forecasting.wards import WardModels, train_ward_models  # heavy: torch

        ward_ids = self._usable_wards()
        if not ward_ids:
            raise ToolError(
                "short_history",
                f"no ward has the {MIN_HISTORY + MAX_DAYS} days of history the forecaster "
                "needs to learn from",
            )
        end = self.hospital.daily.date.max()
        path = self.checkpoint_dir / CHECKPOINT if self.checkpoint_dir else None
        if path is not None and path.exists():
            try:
                parts, meta = checkpoint.load(path, self.device)
            except ValueError:
                parts, meta = None, None
            if parts is not None and meta is not None and self._is_fresh(meta, ward_ids, end):
                return WardModels.from_parts(parts, meta)
        data_end = pd.Timestamp(end)
        fp = self._fingerprint(ward_ids, data_end)
        models = train_ward_models(
            self.hospital,
            ward_ids,
            self.config,
            fingerprint=fp,
            device=self.device,
            progress=self.progress,
        )
        self.trained_now = True
        if path is not None:
            checkpoint.save(
                path, {"admissions": models.admissions, "census": models.census}, models.meta()
            )
        return models

    def warm(self) -> None:
        """Load (or train) the models and compute what every question shares, so no question
        waits for it: the panel forecasts, each flow ward's census simulation, each ward's
        backtest scale, first forecast day and four-week reading (whose verdict templates are
        compiled on the way).

        Raises:
            ToolError: no ward has enough history to train on.
        """
        models = self.models()
        for ward_id in models.wards:
            try:
                self._check_history(ward_id, 1)
            except ToolError:  # reported per question, as without warming
                continue
            self.first_day(ward_id)
            self._scale(ward_id)
            n, _ = self._once("history_check", ward_id, self._history_problem)
            self.forecast(ward_id, min(MAX_DAYS, n - MIN_HISTORY))

    def checkpoint_is_fresh(self) -> bool:
        """Whether a checkpoint in ``checkpoint_dir`` would serve this hospital untrained."""
        from tools.forecasting import checkpoint  # heavy: torch

        path = self.checkpoint_dir / CHECKPOINT if self.checkpoint_dir else None
        if path is None or not path.exists():
            return False
        try:
            _, meta = checkpoint.load(path, "cpu")
        except ValueError:
            return False
        return self._is_fresh(meta, self._usable_wards(), self.hospital.daily.date.max())

    def _is_fresh(self, meta: dict, ward_ids: list[str], end) -> bool:
        if meta.get("config") != asdict(self.config) or sorted(meta.get("wards", [])) != sorted(
            ward_ids
        ):
            return False
        trained_end = pd.Timestamp(meta["data_end"])
        if (
            not trained_end
            <= pd.Timestamp(end)
            <= trained_end + pd.Timedelta(days=self.max_age_days)
        ):
            return False
        return meta.get("fingerprint") == self._fingerprint(ward_ids, trained_end)

    # --------------------------------------------------------------- forecast
    def forecast(self, ward: str, days: int = 7) -> ForecastResult:
        """Forecast the ward's daily occupied beds for the next ``days`` days.

        Raises:
            ToolError: unknown ward, horizon out of range, too little or bad history.
        """
        if not 1 <= days <= MAX_DAYS:
            raise ToolError(
                "bad_horizon",
                f"days must be between 1 and {MAX_DAYS}, got {days}; the models are trained "
                f"for at most {MAX_DAYS} days ahead",
                "ask for at most four weeks ahead",
            )
        w = self._ward(ward)
        key = (w.ward_id, days)
        if key in self._cache:
            return self._cache[key]
        self._check_history(w.ward_id, days)
        models = self.models()
        if w.ward_id not in models.wards:
            raise ToolError(
                "short_history",
                f"{w.ward_id} was not part of the trained models (too little history)",
            )
        out_days, adm_days, method = self._predict(models, w.ward_id, days)
        m, c, n = models.backtest_summary(w.ward_id, method, days)
        bt = Backtest(
            horizon=days,
            mase=round(m, 2),
            coverage=round(c, 2),
            origins=n,
            method=method,
            mae=round(m * self._scale(w.ward_id), 2) if m == m else None,
        )
        from tools.forecasting.wards import stay_days  # heavy: torch

        stay = round(stay_days(models, w.ward_id), 1)
        result = _reading(w.ward_id, w.name_en, w.name_zh, w.beds, out_days, bt, adm_days, stay)
        self._cache[key] = result
        return result

    def first_day(self, ward: str) -> date:
        """The first day a forecast of ``ward`` answers for: the day after its last data.

        Raises:
            ToolError: unknown ward.
        """
        wid = self._ward(ward).ward_id
        return self._once("first_day", wid, self._first_day)

    def _once(self, what: str, ward_id: str, compute):
        """``compute(ward_id)``, computed once per ward: the hospital's history does not
        change under a :class:`Forecaster` (each turn used to filter it again)."""
        key = (what, ward_id)
        if key not in self._per_ward:
            self._per_ward[key] = compute(ward_id)
        return self._per_ward[key]

    def _first_day(self, ward_id: str) -> date:
        return (self.hospital.history(ward_id, "census").index.max() + pd.Timedelta(days=1)).date()

    def window(self, ward: str, start: date | None, days: int) -> ForecastResult:
        """The forecast for exactly ``days`` days from ``start`` (None: the first forecast
        day), within the horizon of :data:`MAX_DAYS` days from the first forecast day; its
        facts and verdicts are about that window.

        Raises:
            ToolError: ``outside_horizon`` for a window that starts before the first forecast
                day or ends after the horizon; as :meth:`forecast` otherwise.
        """
        if start is None:
            return self.forecast(ward, days)
        first = self.first_day(ward)
        last = first + timedelta(days=MAX_DAYS - 1)
        if start < first or (last - start).days < days - 1:  # no date arithmetic past 9999
            end = start + timedelta(days=max(0, min(days - 1, (date.max - start).days)))
            raise ToolError(
                "outside_horizon",
                f"The forecast answers for {first.isoformat()} to {last.isoformat()} (the next "
                f"{MAX_DAYS} days); {start.isoformat()} to {end.isoformat()} is outside it.",
                hint=f"ask about days from {first.isoformat()} to {last.isoformat()}",
            )
        end = start + timedelta(days=days - 1)
        offset = (start - first).days
        full = self.forecast(ward, offset + days)
        if offset == 0:
            return full
        return _reading(
            full.ward_id,
            full.ward_name,
            full.ward_name_zh,
            full.beds,
            full.days[offset:],
            full.backtest,
            full.admissions[offset:],
            full.mean_stay_days,
            span=f"{start.isoformat()} to {end.isoformat()}" if days > 1 else start.isoformat(),
        )

    def _ward(self, ward: str):
        try:
            return self.hospital.ward(ward)
        except KeyError as e:
            raise ToolError("unknown_ward", str(e.args[0]), "use one of the known wards") from e

    def _scale(self, ward_id: str) -> float:
        """The MASE scale of the ward's backtest: the seasonal-naive (7-day) mean absolute
        error of its census before the backtest weeks, in beds."""
        return self._once("scale", ward_id, self._compute_scale)

    def _compute_scale(self, ward_id: str) -> float:
        s = self.hospital.history(ward_id, "census")
        y = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D")).to_numpy(float)
        return mase_scale(y[: len(y) - self.config.backtest_days], 7)

    def _check_history(self, ward_id: str, days: int) -> None:
        n, problem = self._once("history_check", ward_id, self._history_problem)
        if n < MIN_HISTORY + days:
            raise ToolError(
                "short_history",
                f"{ward_id} has {n} days of history; at least {MIN_HISTORY + days} are needed",
            )
        if problem is not None:
            raise ToolError(*problem)

    def _history_problem(self, ward_id: str) -> tuple[int, tuple[str, str, str] | None]:
        """The ward's days of history, and what is wrong with it whatever the horizon
        (``(code, message, hint)`` of the first problem found, or None)."""
        d = self.hospital.daily[self.hospital.daily.ward_id == ward_id]
        if len(d) < MIN_HISTORY + 1:  # too short for any horizon: that is the answer
            return len(d), None
        try:
            self._check_rows(ward_id, d)
        except ToolError as e:
            return len(d), (e.code, e.message, e.hint)
        return len(d), None

    def _check_rows(self, ward_id: str, d: pd.DataFrame) -> None:
        for col in ("admissions", "census"):
            if (d[col] < 0).any():
                bad = d.loc[d[col] < 0, "date"].iloc[0]
                raise ToolError(
                    "bad_data",
                    f"{ward_id} has a negative {col} count on {pd.Timestamp(bad).date()}",
                    "fix the ward's daily data and ingest it again",
                )
        last = d.date.max()
        span = (last - d.date.min()).days + 1
        recent = d[d.date > last - pd.Timedelta(days=365)]
        recent_span = min(span, 365)
        if 1 - len(recent) / recent_span > MAX_GAP_SHARE:
            raise ToolError(
                "gappy_history",
                f"{ward_id} has no data on {recent_span - len(recent)} of its last "
                f"{recent_span} days",
                "fill in the missing days and ingest again",
            )
        behind = (self.hospital.daily.date.max() - last).days
        if behind > MAX_STALE_DAYS:
            raise ToolError(
                "stale_history",
                f"{ward_id}'s history ends on {pd.Timestamp(last).date()}, {behind} days before "
                "the rest of the hospital's",
                "ingest the ward's recent days",
            )

    def _panel(self, models, column: str, predict: bool = True):
        """All the models' wards' daily ``column`` as one dataset and, with ``predict``, its
        quantile forecast over the models' whole horizon, (n_wards, horizon, Q).

        Both are computed once per loaded models (the hospital's history does not change
        under a :class:`Forecaster`): the panel forecast does not depend on the ward or the
        number of days asked about, so each question only slices it. Without ``predict`` the
        quantiles may be None (not computed yet).
        """
        from tools.forecasting.wards import ward_dataset  # heavy: torch

        with self._lock:
            hit = self._panels.get(column)
            if hit is None or hit[0] is not models:
                hit = (models, ward_dataset(self.hospital, models.wards, column), None)
            if predict and hit[2] is None:
                model = models.admissions if column == "admissions" else models.census
                hit = (models, hit[1], model.predict(hit[1]))
            self._panels[column] = hit
            return hit[1], hit[2]

    def _predict(self, models, ward_id: str, days: int):
        i = models.wards.index(ward_id)
        adm, adm_all = self._panel(models, "admissions")
        cen, cen_all = self._panel(models, "census", predict=False)
        adm_q = adm_all[i, :days].copy()
        method = models.method[ward_id]
        c = cen.series[i].y
        if method == "flow" and np.isfinite(c[-1]):
            # One simulation per ward over the whole horizon, sliced for each question: a
            # day's census depends only on the days up to it, so its quantiles are those of
            # a shorter run, and "next 7 days" agrees with the first week of "next 28 days".
            def simulate(_ward_id: str) -> np.ndarray:
                p = np.asarray(models.los[ward_id])
                return simulate_census(
                    p,
                    adm.series[i].y,
                    c[-1],
                    adm_all[i],
                    QUANTILES,
                    n_sims=4000,
                    seed=self.config.seed,
                )

            cq = self._once("census_quantiles", ward_id, simulate)[:days].copy()
        else:
            method = "direct"
            cq = self._panel(models, "census")[1][i, :days].copy()
        start = cen.series[i].index[-1] + pd.Timedelta(days=1)

        def rows(q):
            return [
                ForecastDay(
                    date=(start + pd.Timedelta(days=k)).date(),
                    p10=round(float(q[k, I10]), 1),
                    p50=round(float(q[k, I50]), 1),
                    p90=round(float(q[k, I90]), 1),
                )
                for k in range(days)
            ]

        return rows(cq), rows(adm_q), method


def _reading(
    ward_id,
    name_en,
    name_zh,
    beds,
    days: list[ForecastDay],
    bt: Backtest,
    admissions: list[ForecastDay] | None = None,
    mean_stay: float | None = None,
    span: str = "",
):
    """The result for ``days``: summary, facts and verdicts about exactly those days
    (``span`` names them in fact labels; default "next N days")."""
    p50 = [round(d.p50) for d in days]
    p90 = [round(d.p90) for d in days]
    p10 = [round(d.p10) for d in days]
    n = len(days)
    span = span or f"next {n} days"
    peak90 = max(p90)
    peak_day = days[p90.index(peak90)].date
    over = sum(1 for v in p90 if v > beds)
    facts = [
        Fact(label=f"peak P50 occupied beds, {span}", value=max(p50), unit="beds"),
        Fact(label=f"peak P90 occupied beds, {span}", value=peak90, unit="beds"),
        Fact(label=f"lowest P10 occupied beds, {span}", value=min(p10), unit="beds"),
        Fact(label=f"mean P50 occupied beds, {span}", value=round(sum(p50) / n), unit="beds"),
        Fact(label="physical beds on the ward", value=beds, unit="beds"),
        Fact(label=f"days where P90 exceeds the ward's beds, {span}", value=over, unit="days"),
        Fact(label=f"backtest MASE, {bt.horizon}-day horizon", value=bt.mase, unit=""),
        Fact(label="backtest share of days inside P10-P90", value=bt.coverage, unit=""),
        Fact(label="forecast horizon", value=n, unit="days"),
    ]
    if admissions:
        facts.append(
            Fact(
                label=f"expected admissions (sum of P50), {span}",
                value=round(sum(d.p50 for d in admissions)),
                unit="patients",
            )
        )
    if mean_stay is not None:
        facts.append(Fact(label="estimated mean length of stay", value=mean_stay, unit="days"))
    how = METHOD_NAMES.get(bt.method, "")
    over_what = f"over the {span}" if span.startswith("next ") else f"from {span}"
    if " to " not in span and not span.startswith("next "):
        over_what = f"on {span}"
    summary = (
        f"{name_en} ({ward_id}, {name_zh}) needs a median of up to {max(p50)} occupied beds per "
        f"day {over_what} (P90 peak {peak90} on {peak_day.isoformat()}); "
        f"the ward has {beds} beds. Backtest MASE {bt.mase}, P10-P90 coverage {bt.coverage}"
        + (f" ({how})." if how else ".")
    )
    return ForecastResult(
        summary=summary,
        facts=facts,
        verdicts=forecast_verdicts(
            ward_id,
            name_en,
            name_zh,
            beds,
            days,
            mae=bt.mae,
            mase=bt.mase,
            coverage=bt.coverage,
        ),
        ward_id=ward_id,
        ward_name=name_en,
        ward_name_zh=name_zh,
        beds=beds,
        days=days,
        backtest=bt,
        method=bt.method,
        admissions=admissions or [],
        mean_stay_days=mean_stay,
    )
