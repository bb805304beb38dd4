"""Files replaced whole or not at all: written to a temporary file beside them, then renamed.

It lives at the bottom layer so that every writer of such a file (the current plan, the
forecaster's checkpoints, the eval's cached checkpoint) shares one rule.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replaced_atomically(path: str | Path, mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content to; on a clean exit it becomes ``path``.

    The file is a temporary one of its own beside ``path`` (so two writers at once never share
    one), renamed onto ``path`` at the end: a reader sees the old file or the whole new one,
    never a part. If the write fails the temporary file is removed and ``path`` is left as it
    was.

    Args:
        path: the file to replace (its folder is created if missing).
        mode: a write mode for :func:`open` (``wb`` or ``w``).
        **open_kw: further arguments for :func:`open`, e.g. ``encoding``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
