"""The global model: windows cut from many series, a quantile-loss training loop, prediction.

One network is trained across every window of every series. A window is normalised by its
own level (the mean of its observed context) and by the series' MASE scale so far (the mean
absolute seasonal difference up to the window's last point), so the pinball loss it
minimises weighs every series as mean MASE does. ``members`` networks with consecutive seeds
are trained and their quantiles averaged.

    model = GlobalModel.fit(train, ModelConfig(horizon=12, season=12, freq="MS", context=36))
    q = model.predict(train)          # (n_series, 12, 9), the QUANTILES of the next 12 steps
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from tools.forecasting.calendar import calendar_features, n_features
from tools.forecasting.data import Dataset, future_index
from tools.forecasting.metrics import QUANTILES
from tools.forecasting.model import build

N_STATIC = 3


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a trained model (saved in its checkpoint).

    Attributes:
        horizon: steps ahead the network emits; shorter requests use its first steps.
        season: seasonal period (MASE scale and the default context).
        freq: pandas frequency alias of the series (``MS``, ``D``, ``h``).
        context: lookback window length.
        arch: ``tide``, ``nbeats`` or ``gru`` (see :mod:`tools.forecasting.model`).
        min_context: fewest observed context points for a training window.
        holidays: holiday calendar code for calendar features, e.g. ``GB-ENG``.
        exog: names of the data's known covariates, in order.
        members: ensemble size (seeds ``seed .. seed + members - 1``).
    """

    horizon: int
    season: int
    freq: str
    context: int
    arch: str = "tide"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1
    steps: int = 1500
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    members: int = 3
    seed: int = 0
    min_context: int = 0
    holidays: str | None = None
    exog: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = QUANTILES

    @property
    def n_cov(self) -> int:
        """Covariates per step: calendar features and the data's known covariates."""
        return n_features(self.freq, self.holidays) + len(self.exog)

    def to_dict(self) -> dict:
        """The config as plain JSON-able values (what a checkpoint stores)."""
        d = asdict(self)
        d["exog"], d["quantiles"] = list(self.exog), list(self.quantiles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """The config :meth:`to_dict` describes."""
        d = dict(d)
        d["exog"], d["quantiles"] = tuple(d["exog"]), tuple(d["quantiles"])
        return cls(**d)


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``; ``auto``/None chooses."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(device)


def expanding_scale(y: np.ndarray, season: int) -> np.ndarray:
    """Per position t: the MASE scale of ``y[: t + 1]`` (seasonal, else one-step, else 1)."""
    out = np.ones(len(y))
    for m in (1, season):  # the seasonal scale overrides the one-step one where it exists
        if m >= len(y):
            continue
        d = np.abs(y[m:] - y[:-m])
        ok = np.isfinite(d)
        cs = np.cumsum(np.where(ok, d, 0.0))
        cn = np.cumsum(ok)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = cs / cn
        good = (cn >= (1 if m == 1 else 3)) & (s > 0)
        out[m:][good] = s[good]
    return out


@dataclass
class Panel:
    """Series padded into tensors so windows are one gather away.

    Series i's value at its step t sits at column ``L + t`` of ``y``; columns before it and
    after its end are NaN (``y``) or 0 (``cov``), except that the ``H`` steps after the end
    carry the future's calendar.

    Attributes:
        y: (n, L + Tmax + H) values.
        cov: (n, L + Tmax + H, C) covariates.
        scale: (n, L + Tmax + H) expanding MASE scale.
        lengths: (n,) series lengths.
    """

    y: torch.Tensor
    cov: torch.Tensor
    scale: torch.Tensor
    lengths: np.ndarray
    context: int
    horizon: int
    starts: list[pd.Timestamp] = field(default_factory=list)


def make_panel(data: Dataset, cfg: ModelConfig, device: torch.device) -> Panel:
    """Pad ``data`` into a :class:`Panel` for ``cfg``'s context and horizon."""
    L, H = cfg.context, cfg.horizon
    n = len(data.series)
    lengths = np.array([len(s) for s in data.series])
    width = L + int(lengths.max()) + H
    y = np.full((n, width), np.nan, dtype=np.float32)
    sc = np.ones((n, width), dtype=np.float32)
    cov = np.zeros((n, width, cfg.n_cov), dtype=np.float32)
    n_cal = n_features(cfg.freq, cfg.holidays)
    for i, s in enumerate(data.series):
        T = len(s)
        y[i, L : L + T] = s.y
        sc[i, L : L + T] = expanding_scale(s.y, cfg.season)
        sc[i, L + T :] = sc[i, L + T - 1]
        idx = s.index.append(future_index(s.index, data.freq, H))
        cov[i, L : L + T + H, :n_cal] = calendar_features(idx, data.freq, cfg.holidays)
        if cfg.exog and s.exog is not None:
            k = min(len(s.exog), T + H)
            cov[i, L : L + k, n_cal:] = s.exog[:k]
    t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return Panel(t(y), t(cov), t(sc), lengths, L, H, [s.index[0] for s in data.series])


def windows(panel: Panel, rows: torch.Tensor, ends: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Normalised windows whose context ends at series step ``ends`` of series ``rows``.

    Returns:
        past (B, L), past_mask (B, L), cov (B, L+H, C), static (B, 3), target (B, H)
        normalised, target_mask (B, H), level (B,), scale (B,).
    """
    L, H = panel.context, panel.horizon
    offs = torch.arange(-L + 1, H + 1, device=rows.device)
    cols = (ends + L)[:, None] + offs[None, :]
    seg = panel.y[rows[:, None], cols]
    cov = panel.cov[rows[:, None], cols]
    scale = panel.scale[rows, ends + L]
    past, fut = seg[:, :L], seg[:, L:]
    pm = torch.isfinite(past)
    cnt = pm.sum(1).clamp(min=1)
    level = torch.where(pm, past, 0.0).sum(1) / cnt
    s = scale[:, None]
    past_n = torch.where(pm, (past - level[:, None]) / s, 0.0)
    fm = torch.isfinite(fut)
    fut_n = torch.where(fm, (fut - level[:, None]) / s, 0.0)
    lev = level.abs()
    static = torch.stack([torch.log1p(lev / scale), torch.log1p(lev), pm.float().mean(1)], dim=1)
    return past_n, pm.float(), cov, static, fut_n, fm.float(), level, scale


def training_origins(panel: Panel, min_context: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (series, last context step) with enough observed context and one target."""
    y = panel.y.cpu().numpy()
    L = panel.context
    rows, ends = [], []
    for i, T in enumerate(panel.lengths):
        obs = np.isfinite(y[i, L : L + T])
        cs = np.concatenate([[0], np.cumsum(obs)])
        t = np.arange(T - 1)  # the last step has no target inside the series
        ctx = cs[t + 1] - cs[np.maximum(t + 1 - L, 0)]
        fut = cs[np.minimum(t + 1 + panel.horizon, T)] - cs[t + 1]
        ok = (ctx >= max(min_context, 1)) & (fut > 0)
        rows.append(np.full(ok.sum(), i))
        ends.append(t[ok])
    return np.concatenate(rows), np.concatenate(ends)


def pinball_loss(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, q: torch.Tensor):
    """Mean pinball loss of quantiles ``out`` (B, H, Q) for ``target`` (B, H) where mask."""
    diff = target[..., None] - out
    loss = torch.maximum(q * diff, (q - 1) * diff) * mask[..., None]
    return loss.sum() / (mask.sum() * len(q)).clamp(min=1)


def _net(cfg: ModelConfig) -> torch.nn.Module:
    kw = dict(
        context=cfg.context,
        horizon=cfg.horizon,
        n_cov=cfg.n_cov,
        n_static=N_STATIC,
        n_q=len(cfg.quantiles),
        hidden=cfg.hidden,
        layers=cfg.layers,
        dropout=cfg.dropout,
    )
    return build(cfg.arch, **kw)


def resolved(config: ModelConfig) -> ModelConfig:
    """``config`` with its ``min_context`` default made explicit (what a checkpoint stores)."""
    if config.min_context > 0:
        return config
    return replace(config, min_context=min(config.context, max(config.season, 2)))


def _origins(panel: Panel, cfg: ModelConfig, dev: torch.device) -> tuple[torch.Tensor, ...]:
    rows, ends = training_origins(panel, cfg.min_context)
    if len(rows) == 0:
        raise ValueError("no training window: the series are shorter than the context")
    return torch.from_numpy(rows).to(dev), torch.from_numpy(ends).to(dev)


def _train_net(
    panel: Panel,
    origins: tuple[torch.Tensor, ...],
    cfg: ModelConfig,
    k: int,
    dev: torch.device,
    progress: bool = False,
) -> torch.nn.Module:
    """Member ``k`` of ``cfg``'s ensemble, trained (eval mode).

    It depends on its seed (``cfg.seed + k``) alone, not on the members trained before it,
    so members can be trained in any order or in separate processes.
    """
    from tqdm.auto import tqdm

    rows_all, ends_all = origins
    q = torch.tensor(cfg.quantiles, dtype=torch.float32, device=dev)
    seed = cfg.seed + k
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    net = _net(cfg).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1
    )
    net.train()
    bar = tqdm(
        range(cfg.steps),
        desc=f"training {cfg.arch} {k + 1}/{cfg.members}",
        disable=not progress,
        leave=False,
        mininterval=1.0,
    )
    for _ in bar:
        pick = torch.randint(len(rows_all), (cfg.batch,), generator=gen).to(dev)
        past, pm, cov, st, tgt, tm, _, _ = windows(panel, rows_all[pick], ends_all[pick])
        loss = pinball_loss(net(past, pm, cov, st), tgt, tm, q)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if progress:
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    net.eval()
    return net


def _member_weights(data: Dataset, cfg: ModelConfig, k: int, device: str | None, threads: int):
    """In a worker process: member ``k`` of ``cfg`` trained on ``data``, its weights on the CPU.

    A one-member model seeded ``cfg.seed + k`` is that member (see :func:`_train_net`).
    """
    one = replace(cfg, seed=cfg.seed + k, members=1)
    model = GlobalModel.fit(data, one, device=device, progress=False, threads=threads)
    return model.state()["nets"][0]


class GlobalModel:
    """An ensemble of networks trained across all series of a dataset.

    Attributes:
        config: the :class:`ModelConfig`.
        nets: the trained networks (eval mode).
        device: where they run.
        train_seconds: wall time of :meth:`fit` (0 for a loaded model).
    """

    def __init__(self, config: ModelConfig, nets: list[torch.nn.Module], device: torch.device):
        self.config = config
        self.nets = nets
        self.device = device
        self.train_seconds = 0.0

    @classmethod
    def fit(
        cls,
        data: Dataset,
        config: ModelConfig,
        *,
        device: str | None = None,
        progress: bool = True,
        threads: int | None = None,
    ) -> GlobalModel:
        """Train ``config.members`` networks on every window of ``data``.

        Seeded: the same data, config and device give the same model (on CPU).

        Args:
            data: the training series.
            config: the model's config.
            device: ``cpu``, ``cuda`` or None (CUDA when present).
            progress: show a progress bar per network.
            threads: CPU threads for torch while training (restored after); None keeps
                torch's setting. One thread is the robust choice on a shared CPU.
        """
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            return cls._fit(data, config, device, progress)
        finally:
            torch.set_num_threads(before)

    @classmethod
    def _fit(cls, data: Dataset, config: ModelConfig, device, progress: bool) -> GlobalModel:
        t0 = time.perf_counter()
        dev = pick_device(device)
        cfg = resolved(config)
        panel = make_panel(data, cfg, dev)
        origins = _origins(panel, cfg, dev)
        nets = [
            _train_net(panel, origins, cfg, k, dev, progress=progress) for k in range(cfg.members)
        ]
        model = cls(cfg, nets, dev)
        model.train_seconds = time.perf_counter() - t0
        return model

    @torch.no_grad()
    def predict(
        self, data: Dataset, ends: np.ndarray | None = None, *, nonnegative: bool = True
    ) -> np.ndarray:
        """Quantile forecasts of the ``horizon`` steps after each series' step ``ends[i]``.

        Args:
            data: the series (with the same covariates as in training).
            ends: per series, the last context step (default: each series' last step).
            nonnegative: clip at 0 (counts).

        Returns:
            (n_series, horizon, n_quantiles), sorted along the last axis.
        """
        panel = make_panel(data, self.config, self.device)
        if ends is None:
            ends = panel.lengths - 1
        return self.predict_panel(panel, np.arange(len(ends)), np.asarray(ends), nonnegative)

    @torch.no_grad()
    def predict_panel(
        self, panel: Panel, rows: np.ndarray, ends: np.ndarray, nonnegative: bool = True
    ) -> np.ndarray:
        """Like :meth:`predict` for any (row, end) pairs of a prepared panel: (B, H, Q)."""
        out = []
        for a in range(0, len(rows), 4096):
            r = torch.as_tensor(rows[a : a + 4096], device=self.device)
            e = torch.as_tensor(ends[a : a + 4096], device=self.device)
            past, pm, cov, st, _, _, level, scale = windows(panel, r, e)
            qs = torch.stack([net(past, pm, cov, st) for net in self.nets]).mean(0)
            qs = qs.sort(dim=2).values * scale[:, None, None] + level[:, None, None]
            out.append(qs.cpu().numpy())
        res = np.concatenate(out).astype(float)
        return np.maximum(res, 0.0) if nonnegative else res

    def state(self) -> dict:
        """Config and weights as plain tensors and lists (what a checkpoint stores)."""
        return {
            "config": self.config.to_dict(),
            "nets": [{k: v.cpu() for k, v in n.state_dict().items()} for n in self.nets],
        }

    @classmethod
    def from_state(cls, state: dict, device: str | None = None) -> GlobalModel:
        """The model :meth:`state` describes, on ``device``."""
        dev = pick_device(device)
        cfg = ModelConfig.from_dict(state["config"])
        nets = []
        for sd in state["nets"]:
            net = _net(cfg).to(dev)
            net.load_state_dict(sd)
            net.eval()
            nets.append(net)
        return cls(cfg, nets, dev)


class ContextEnsemble:
    """Global models that differ only in their context length, quantiles averaged.

    N-BEATS's recipe of ensembling over lookback lengths: on monthly hospital series a short
    context wins on shorter histories and a longer one on longer histories (measured on the
    Monash folds, docs/forecasting.md), so the bench trains one model per context instead of
    betting on one.

        ens = ContextEnsemble.fit(train, cfg, contexts=(12, 18, 24, 36))
        q = ens.predict(train)            # (n_series, horizon, n_quantiles)
    """

    def __init__(self, models: list[GlobalModel]):
        if not models:
            raise ValueError("a context ensemble needs at least one model")
        self.models = models

    @property
    def device(self) -> torch.device:
        """Where the models run."""
        return self.models[0].device

    @classmethod
    def fit(
        cls,
        data: Dataset,
        config: ModelConfig,
        contexts: tuple[int, ...] | None = None,
        *,
        device: str | None = None,
        progress: bool = True,
        jobs: int = 1,
    ) -> ContextEnsemble:
        """One :meth:`GlobalModel.fit` per context (``config.context`` alone by default).

        Args:
            jobs: worker processes that train the networks (every context's members) side
                by side, each with this process's torch thread count; the same weights as
                one process gives, since each network depends on its seed alone. On a GPU
                the workers share it (one network leaves it mostly waiting on Python).
                The workers are spawned, so a script that calls this needs the usual
                ``if __name__ == "__main__":`` guard around its entry point.
        """
        contexts = tuple(dict.fromkeys(contexts or (config.context,)))
        cfgs = [resolved(replace(config, context=c)) for c in contexts]
        if jobs <= 1 or sum(c.members for c in cfgs) <= 1:
            return cls([GlobalModel.fit(data, c, device=device, progress=progress) for c in cfgs])
        return cls(_fit_in_workers(data, cfgs, device, progress, jobs))

    def predict(self, data: Dataset) -> np.ndarray:
        """The mean of the models' quantiles (each sorted, so the mean is sorted too)."""
        return np.mean([m.predict(data) for m in self.models], axis=0)


def default_context(horizon: int, season: int, freq: str) -> int:
    """A context of about three seasons, at least twice the horizon."""
    c = max(3 * season, 2 * horizon)
    if freq == "D":
        c = max(c, 56)
    return int(math.ceil(c))


def _fit_in_workers(
    data: Dataset, cfgs: list[ModelConfig], device: str | None, progress: bool, jobs: int
) -> list[GlobalModel]:
    """Every member of every config trained in ``jobs`` spawned processes, in config order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    pick_device(device)  # an unusable --device fails here, not in every worker
    threads = torch.get_num_threads()
    tasks = [(i, k) for i, c in enumerate(cfgs) for k in range(c.members)]
    weights: dict[tuple[int, int], dict] = {}
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked children
    n = min(jobs, len(tasks))
    with ProcessPoolExecutor(n, mp_context=ctx) as pool:
        futures = {
            pool.submit(_member_weights, data, cfgs[i], k, device, threads): (i, k)
            for i, k in tasks
        }
        done = as_completed(futures)
        desc = f"training {len(tasks)} {cfgs[0].arch} networks in {n} processes"
        try:
            for fut in tqdm(done, total=len(tasks), desc=desc, disable=not progress, leave=False):
                weights[futures[fut]] = fut.result()
        except BaseException:  # one failed (or Ctrl-C): do not train the rest first
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    models = []
    for i, c in enumerate(cfgs):
        state = {"config": c.to_dict(), "nets": [weights[(i, k)] for k in range(c.members)]}
        models.append(GlobalModel.from_state(state, device))
    spent = time.perf_counter() - t0
    for m in models:
        m.train_seconds = spent / len(models)
    return models
