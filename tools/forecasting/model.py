"""The torch networks: direct multi-horizon quantile forecasters over a context window.

Every network maps one normalised window to quantiles of the next ``horizon`` steps:

    past      (B, L)     context values, (y - level) / scale, 0 where missing
    past_mask (B, L)     1 where observed
    cov       (B, L+H, C) calendar and known covariates over context and horizon
    static    (B, S)     per-window features (log level, log level/scale)
    -> out    (B, H, Q)  quantiles in the same normalised units, sorted along Q

``tide``  (default) a TiDE-style dense encoder/decoder: covariates projected per step,
          a residual MLP encoder over the flattened window, a per-step temporal decoder,
          and a linear lookback-to-horizon skip.
``nbeats`` an N-BEATS (generic) stack: residual blocks that each remove a backcast from
          the window and add a forecast; covariates enter every block.
``gru``   a DeepAR-style recurrent encoder with a dense multi-horizon head.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """Dense -> ReLU -> dense with dropout, a linear skip and layer norm (TiDE's block).

    Output blocks go without the norm: it would pin the mean of their outputs.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float, norm: bool = True):
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out), nn.Dropout(dropout)
        )
        self.skip = nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d_in) -> (B, d_out)."""
        return self.norm(self.dense(x) + self.skip(x))


class TiDE(nn.Module):
    """TiDE-style quantile forecaster (Das et al. 2023), small enough for a CPU."""

    def __init__(
        self,
        context: int,
        horizon: int,
        n_cov: int,
        n_static: int,
        n_q: int,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.1,
        cov_dim: int = 4,
        dec_dim: int = 16,
    ):
        super().__init__()
        self.context, self.horizon, self.n_q, self.dec_dim = context, horizon, n_q, dec_dim
        self.cov_proj = ResBlock(n_cov, hidden // 4, cov_dim, dropout) if n_cov else None
        cd = cov_dim if n_cov else 0
        d_in = 2 * context + (context + horizon) * cd + n_static
        blocks = [ResBlock(d_in, hidden, hidden, dropout)]
        blocks += [ResBlock(hidden, hidden, hidden, dropout) for _ in range(layers - 1)]
        self.encoder = nn.Sequential(*blocks)
        self.decoder = ResBlock(hidden, hidden, horizon * dec_dim, dropout)
        self.temporal = ResBlock(dec_dim + cd, hidden // 4, n_q, dropout, norm=False)
        self.skip = nn.Linear(context, horizon * n_q)

    def forward(self, past, past_mask, cov, static):
        """past, past_mask (B, L), cov (B, L+H, C), static (B, S) -> quantiles (B, H, Q)."""
        b = past.shape[0]
        parts = [past, past_mask]
        proj = None
        if self.cov_proj is not None:
            proj = self.cov_proj(cov)  # (B, L+H, cd)
            parts.append(proj.reshape(b, -1))
        parts.append(static)
        h = self.encoder(torch.cat(parts, dim=1))
        dec = self.decoder(h).reshape(b, self.horizon, self.dec_dim)
        if proj is not None:
            dec = torch.cat([dec, proj[:, self.context :]], dim=2)
        out = self.temporal(dec) + self.skip(past).reshape(b, self.horizon, self.n_q)
        return out


class NBeats(nn.Module):
    """N-BEATS generic stack (Oreshkin et al. 2020) with covariates and a quantile head."""

    def __init__(
        self,
        context: int,
        horizon: int,
        n_cov: int,
        n_static: int,
        n_q: int,
        hidden: int = 256,
        layers: int = 3,
        dropout: float = 0.1,
        blocks: int = 4,
        cov_dim: int = 4,
    ):
        super().__init__()
        self.context, self.horizon, self.n_q = context, horizon, n_q
        self.cov_proj = nn.Linear(n_cov, cov_dim) if n_cov else None
        cd = cov_dim if n_cov else 0
        d_extra = context + (context + horizon) * cd + n_static
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            mods: list[nn.Module] = [nn.Linear(context + d_extra, hidden), nn.ReLU()]
            for _ in range(layers - 1):
                mods += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
            self.blocks.append(
                nn.ModuleDict(
                    {
                        "fc": nn.Sequential(*mods),
                        "back": nn.Linear(hidden, context),
                        "fore": nn.Linear(hidden, horizon * n_q),
                    }
                )
            )

    def forward(self, past, past_mask, cov, static):
        """past, past_mask (B, L), cov (B, L+H, C), static (B, S) -> quantiles (B, H, Q)."""
        b = past.shape[0]
        extra = [past_mask, static]
        if self.cov_proj is not None:
            extra.append(self.cov_proj(cov).reshape(b, -1))
        extra_t = torch.cat(extra, dim=1)
        resid = past
        out = torch.zeros(b, self.horizon * self.n_q, device=past.device, dtype=past.dtype)
        blk: nn.ModuleDict
        for blk in self.blocks:  # type: ignore[assignment]
            h = blk["fc"](torch.cat([resid, extra_t], dim=1))
            resid = (resid - blk["back"](h)) * past_mask
            out = out + blk["fore"](h)
        return out.reshape(b, self.horizon, self.n_q)


class GRUNet(nn.Module):
    """DeepAR-style: a GRU reads the context (value, mask, covariates); a dense head reads
    its final state and the horizon's covariates and emits all quantiles at once."""

    def __init__(
        self,
        context: int,
        horizon: int,
        n_cov: int,
        n_static: int,
        n_q: int,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.1,
        cov_dim: int = 4,
    ):
        super().__init__()
        self.context, self.horizon, self.n_q = context, horizon, n_q
        self.cov_proj = nn.Linear(n_cov, cov_dim) if n_cov else None
        cd = cov_dim if n_cov else 0
        self.rnn = nn.GRU(
            2 + cd + n_static, hidden, num_layers=layers, batch_first=True, dropout=dropout
        )
        self.head = ResBlock(
            hidden + horizon * cd + n_static, 4 * hidden, horizon * n_q, dropout, norm=False
        )

    def forward(self, past, past_mask, cov, static):
        """past, past_mask (B, L), cov (B, L+H, C), static (B, S) -> quantiles (B, H, Q)."""
        b, L = past.shape
        proj = self.cov_proj(cov) if self.cov_proj is not None else cov[:, :, :0]
        st = static[:, None, :].expand(b, L, static.shape[1])
        x = torch.cat([past[..., None], past_mask[..., None], proj[:, :L], st], dim=2)
        _, h = self.rnn(x)
        z = torch.cat([h[-1], proj[:, L:].reshape(b, -1), static], dim=1)
        return self.head(z).reshape(b, self.horizon, self.n_q)


class Linear(nn.Module):
    """Pooled linear quantile regression on the window and its covariates (a sanity floor)."""

    def __init__(self, context: int, horizon: int, n_cov: int, n_static: int, n_q: int, **_):
        super().__init__()
        self.horizon, self.n_q = horizon, n_q
        self.lin = nn.Linear(2 * context + (context + horizon) * n_cov + n_static, horizon * n_q)

    def forward(self, past, past_mask, cov, static):
        """past, past_mask (B, L), cov (B, L+H, C), static (B, S) -> quantiles (B, H, Q)."""
        b = past.shape[0]
        x = torch.cat([past, past_mask, cov.reshape(b, -1), static], dim=1)
        return self.lin(x).reshape(b, self.horizon, self.n_q)


ARCHS = {"tide": TiDE, "nbeats": NBeats, "gru": GRUNet, "linear": Linear}


def build(arch: str, **kw) -> nn.Module:
    """A network of the named architecture (see :data:`ARCHS`)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; one of {', '.join(ARCHS)}")
    return ARCHS[arch](**kw)
