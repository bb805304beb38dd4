"""The case index's files hold nothing but the index: Chroma's unused buffer is zeroed.

The child process asks glibc to fill every block it hands out with one byte (``M_PERTURB``),
so memory that reaches the disk without being cleared shows as a long run of that byte.
Without :func:`knowledge.index_files.scrub`, ``data_level0.bin`` and ``length.bin`` are made
of nothing else.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from knowledge.index_files import scrub

ROOT = Path(__file__).resolve().parents[2]
FILL = 0xB2  # what glibc fills a fresh block with: the complement of the perturb byte 0x4D

CHILD = """
import ctypes, datetime, hashlib, json, sys
import numpy as np
if sys.argv[2] == "perturb":
    assert ctypes.CDLL("libc.so.6").mallopt(-6, 0x4D) == 1  # M_PERTURB
from knowledge.records import CaseRecord
from knowledge.store import CaseIndex

class HashEncoder:
    def encode(self, texts):
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=64) for s in seeds])

n, m = int(sys.argv[3]), int(sys.argv[4])  # records to write, records to look up
records = [
    CaseRecord(record_id=f"C{i:05d}", lang="en", ward_id="CARD", age_band="60-69", sex="F",
               admitted=datetime.date(2025, 1, 1 + i % 28), los_days=3,
               diagnosis="chest pain", text=f"case {i}: chest pain on exertion, day {i % 7}",
               outcome="discharged")
    for i in range(n)
]
index = CaseIndex(sys.argv[1], encoder=HashEncoder())
embedded = index.build(records, batch=500).embedded if n else 0
probe = [f"case {i}: chest pain on exertion, day {i % 7}" for i in range(0, m, max(1, m // 20))]
top = [index.query(t, k=1)[0].record_id for t in probe]
print(json.dumps({"count": index.count(), "top": top, "embedded": embedded}))
"""


def _child(index_dir: Path, mode: str, n: int, m: int | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(index_dir), mode, str(n), str(n if m is None else m)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _runs_of(data: bytes, byte: int, length: int = 64) -> int:
    """How many bytes of ``data`` lie in runs of ``byte`` at least ``length`` long."""
    total = run = 0
    for b in data:
        run = run + 1 if b == byte else 0
        if run == length:
            total += length
        elif run > length:
            total += 1
    return total


def _uncleared(index_dir: Path) -> dict[str, int]:
    return {
        str(f.relative_to(index_dir)): n
        for f in sorted(index_dir.rglob("*"))
        if f.is_file() and (n := _runs_of(f.read_bytes(), FILL))
    }


def _header(index_dir: Path) -> tuple[int, int, int]:
    (header,) = index_dir.glob("*/header.bin")
    _version, _offset, capacity, count, per = struct.unpack_from("<iQQQQ", header.read_bytes())
    return capacity, count, per


def test_a_small_index_saves_no_uncleared_memory(tmp_path):
    out = _child(tmp_path / "index", "perturb", 3)
    assert out["count"] == 3
    assert out["top"] == ["C00000", "C00001", "C00002"]
    capacity, count, per = _header(tmp_path / "index")
    assert (capacity, count) == (100, 0)  # the empty graph Chroma saves first, all unused
    assert _uncleared(tmp_path / "index") == {}
    # and the index opens and answers the same in a process that did not write it
    assert _child(tmp_path / "index", "plain", 0, 3) == {**out, "embedded": 0}


def test_scrub_zeroes_only_what_the_header_does_not_count(tmp_path):
    """Planted bytes in the unused slots go; the counted slots and other files stay."""
    _child(tmp_path / "index", "plain", 3)
    (seg,) = {p.parent for p in (tmp_path / "index").glob("*/header.bin")}
    data = seg / "data_level0.bin"
    size = data.stat().st_size
    data.write_bytes(b"JOHN DOE 555-0100 " * (size // 18) + b"x" * (size % 18))
    (seg / "length.bin").write_bytes(b"\x07" * 400)
    done = scrub(tmp_path / "index")
    assert done.segments == 1 and done.zeroed > 0.9 * size and done.skipped == []
    assert data.read_bytes() == bytes(size) and (seg / "length.bin").read_bytes() == bytes(400)
    assert scrub(tmp_path / "index").zeroed == 0  # nothing left to do
    assert _child(tmp_path / "index", "plain", 0, 3)["top"] == ["C00000", "C00001", "C00002"]


def test_scrub_leaves_an_unknown_layout_alone(tmp_path, caplog):
    seg = tmp_path / "index" / "segment"
    seg.mkdir(parents=True)
    (seg / "header.bin").write_bytes(struct.pack("<iQQQQ", 2, 0, 100, 0, 2188).ljust(100, b"\0"))
    (seg / "data_level0.bin").write_bytes(b"keep" * 1000)
    done = scrub(tmp_path / "index")
    assert done.segments == 0 and done.zeroed == 0 and "version=2" in done.skipped[0]
    assert (seg / "data_level0.bin").read_bytes() == b"keep" * 1000
    assert "not scrubbed" in caplog.text


def test_a_saved_graph_keeps_every_element_and_no_uncleared_memory(tmp_path):
    """Past Chroma's save threshold (1000) the graph itself is on disk: scrubbing keeps it."""
    out = _child(tmp_path / "index", "perturb", 1100)
    capacity, count, per = _header(tmp_path / "index")
    assert count == 1000 < capacity  # saved once, at the threshold
    assert _uncleared(tmp_path / "index") == {}
    again = _child(tmp_path / "index", "plain", 0, 1100)
    assert again["count"] == out["count"] == 1100
    assert again["top"] == out["top"] == [f"C{i:05d}" for i in range(0, 1100, 55)]


def test_an_index_written_before_is_scrubbed_by_the_next_build(tmp_path):
    """An index built by a version without the scrub is cleaned by the next ingest, even one
    that finds nothing new to embed (it opens the index)."""
    _child(tmp_path / "index", "plain", 3)
    (seg,) = {p.parent for p in (tmp_path / "index").glob("*/header.bin")}
    size = (seg / "data_level0.bin").stat().st_size
    (seg / "data_level0.bin").write_bytes(bytes([FILL]) * size)
    out = _child(tmp_path / "index", "plain", 3)
    assert out["embedded"] == 0 and out["count"] == 3
    assert _uncleared(tmp_path / "index") == {}


def test_a_process_that_only_reads_saves_no_uncleared_memory(tmp_path):
    """Chroma saves the segment again when a process first uses it, so the serve process
    (which holds staff questions in memory) would write its memory too."""
    _child(tmp_path / "index", "plain", 3)
    assert _child(tmp_path / "index", "perturb", 0, 0)["count"] == 3  # opened, counted
    assert _uncleared(tmp_path / "index") == {}
    out = _child(tmp_path / "index", "perturb", 0, 3)  # and searched
    assert out["count"] == 3 and out["top"] == ["C00000", "C00001", "C00002"]
    assert _uncleared(tmp_path / "index") == {}
