"""Checkpoints: trained models plus what they were trained on, saved and reloaded.

A checkpoint is one ``torch.save`` file holding named :class:`GlobalModel` states and a
``meta`` dict of plain values (the data's fingerprint, its last date, backtest scores,
length-of-stay estimates). It loads with ``weights_only=True``: no pickled code runs.

:func:`fingerprint` hashes a frame, so a caller can tell whether a checkpoint was trained
on the data it has now (the rule for "fresh" lives with the caller: see
:class:`tools.forecast.Forecaster`). :func:`code_digest` hashes the training code and the
torch version, so a checkpoint trained by other code is not taken for a fresh one.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pandas as pd
import torch

from knowledge.files import replaced_atomically
from tools.forecasting.training import GlobalModel

FORMAT = 1

# The modules a ward model's training runs (tools.forecasting.wards and what it imports):
# a change in any of them, or another torch, makes a new model from the same data.
TRAINING_CODE = (
    "wards.py", "training.py", "model.py", "data.py", "calendar.py", "los.py", "metrics.py",
    "checkpoint.py",
)  # fmt: skip


def save(path: str | Path, models: dict[str, GlobalModel], meta: dict) -> Path:
    """Write ``models`` and ``meta`` to ``path`` atomically (a temporary file, then rename)."""
    path = Path(path)
    blob = {
        "format": FORMAT,
        "models": {name: m.state() for name, m in models.items()},
        "meta": meta,
    }
    with replaced_atomically(path) as f:  # two replicas training at once never share a file
        torch.save(blob, f)
    return path


def load(path: str | Path, device: str | None = None) -> tuple[dict[str, GlobalModel], dict]:
    """Read a checkpoint written by :func:`save`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this format.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable forecaster checkpoint: {e}") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a wardwise forecaster checkpoint (format {FORMAT})")
    models = {k: GlobalModel.from_state(v, device) for k, v in blob["models"].items()}
    return models, blob["meta"]


def fingerprint(frame: pd.DataFrame, extra: object = None) -> str:
    """A short stable hash of a frame's values (and of ``extra``, e.g. a config)."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(repr(extra).encode())
    return h.hexdigest()[:16]


@functools.cache
def code_digest(folder: Path = Path(__file__).parent) -> str:
    """A short hash of the training code in ``folder`` (:data:`TRAINING_CODE`) and of torch's
    version."""
    h = hashlib.sha256(torch.__version__.encode())
    for name in TRAINING_CODE:
        h.update(name.encode() + b"\0" + (Path(folder) / name).read_bytes())
    return h.hexdigest()[:16]
