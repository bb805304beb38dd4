"""The case index's files at rest: nothing on disk but what the index holds.

Chroma (1.5, embedded) keeps each collection's HNSW graph in a segment folder of
``index_dir``: ``header.bin``, ``data_level0.bin`` (one fixed-size slot per element),
``length.bin`` (one 4-byte count per element) and ``link_lists.bin``. The first write to a
collection saves an *empty* graph with room for 100 elements, and saves the whole buffer:
100 slots of ``data_level0.bin`` and 100 counts of ``length.bin``, none of them in use. That
buffer comes from ``malloc`` and is never cleared, so the bytes written are whatever the
process's memory held before, and in an ingest process that is the raw bundle or CSV text
(names, phone numbers, addresses) before it was de-identified. Chroma also saves the
segment again the first time a process uses it (its first ``count``), so a process that only
reads (``serve``, which holds staff questions) writes its own memory too. A test that makes
glibc fill every block it hands out with a known byte (``M_PERTURB``) finds the whole of both
files made of it.

:func:`scrub` zeroes every byte of those two files beyond the elements the header counts.
The index never reads them: a slot is cleared when an element is put in it.
:class:`~knowledge.store.CaseIndex` runs it when it opens an embedded index (after loading
the segment; so an index written by an earlier version is cleaned then), after every batch
:meth:`~knowledge.store.CaseIndex.build` writes, and when it finds records another process
added.
A header this module does not recognise (another Chroma format) is left alone and logged;
the test above then fails, so an upgrade that changes the format is seen.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

from pydantic import BaseModel

log = logging.getLogger(__name__)

# hnswlib's saved header, as Chroma's fork writes it: int32 format version, then
# offsetLevel0, max_elements, cur_element_count and size_data_per_element (uint64 each).
_HEADER = struct.Struct("<iQQQQ")
_HEADER_SIZE = 100
_VERSION = 1
_COUNT_BYTES = 4  # length.bin: one uint32 per element
_CHUNK = 1 << 20


class Scrubbed(BaseModel):
    """What :func:`scrub` did."""

    segments: int = 0
    """Segment folders with a recognised header."""
    zeroed: int = 0
    """Bytes that were not zero and now are."""
    skipped: list[str] = []
    """Segment folders left alone, with why."""


def _zero_tail(path: Path, keep: int) -> int:
    """Zero ``path`` from byte ``keep`` to its end; how many bytes were not zero."""
    size = path.stat().st_size
    if size <= keep:
        return 0
    dirty = 0
    with path.open("r+b") as f:
        f.seek(keep)
        pos = keep
        while pos < size:
            block = f.read(min(_CHUNK, size - pos))
            n = len(block) - block.count(0)
            if n:
                dirty += n
                f.seek(pos)
                f.write(bytes(len(block)))
            pos += len(block)
        if dirty:
            f.flush()
            os.fsync(f.fileno())
    return dirty


def scrub(index_dir: Path | str) -> Scrubbed:
    """Zero the unused part of every HNSW segment's files under ``index_dir``.

    Args:
        index_dir: The embedded index's folder (the one given to ``CaseIndex``).
    """
    out = Scrubbed()
    for header in sorted(Path(index_dir).glob("*/header.bin")):
        seg = header.parent
        raw = header.read_bytes()
        if len(raw) != _HEADER_SIZE:
            out.skipped.append(f"{seg.name}: header of {len(raw)} bytes")
            continue
        version, _offset, capacity, count, per = _HEADER.unpack_from(raw)
        data, lengths = seg / "data_level0.bin", seg / "length.bin"
        if version != _VERSION or per == 0 or count > capacity:
            out.skipped.append(f"{seg.name}: header {version=} {capacity=} {count=} {per=}")
            continue
        if not data.is_file() or data.stat().st_size % per:
            out.skipped.append(f"{seg.name}: data_level0.bin is not whole {per}-byte slots")
            continue
        out.segments += 1
        out.zeroed += _zero_tail(data, count * per)
        if lengths.is_file():
            out.zeroed += _zero_tail(lengths, count * _COUNT_BYTES)
    for why in out.skipped:
        log.warning("case index files not scrubbed (unknown layout): %s", why)
    return out
