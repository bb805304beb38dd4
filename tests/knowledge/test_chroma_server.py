"""Against real servers the tests start and stop themselves: a Chroma server (``chroma run``)
and PostgreSQL (Debian's ``postgresql``: a throwaway cluster on 127.0.0.1, a free port, a
temporary data dir; as root it runs as the ``postgres`` system user)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.cli.knowledge import register  # noqa: E402
from knowledge.cases_demo import generate_cases  # noqa: E402
from knowledge.fusion import Fusion  # noqa: E402
from knowledge.sql import read_adt, read_cases  # noqa: E402
from knowledge.store import CaseIndex  # noqa: E402

pytestmark = pytest.mark.slow

QUERY = "crushing chest pain radiating to the left arm, sweating"
PLANTED = ["Quackenbush", "Wilhelmina", "0047731", "7946 0321", "Larkspur", "CASE-00", "PT-9"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app() -> typer.Typer:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    register(app, bench)
    return app


def _all_bytes(folder: Path) -> str:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file()).decode(
        "utf-8", "ignore"
    )


# --------------------------------------------------------------------------- Chroma server


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (data.parent / "chroma-server.log").open("wb")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start (exit {proc.poll()})")
            time.sleep(0.3)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_chroma_server_mode_hybrid_query_and_shared_state(chroma_server):
    url, _ = chroma_server
    a = CaseIndex(server_url=url, collection="server-test")
    records = generate_cases(80, seed=5, end=date(2025, 6, 30))
    assert a.build(records).embedded == 80
    assert a.build(records).unchanged == 80
    hits = a.query(QUERY, k=5)
    assert hits[0].diagnosis == "acute myocardial infarction"
    # another client (another process, another host) sees the same records, builds its
    # lexical index from the server's documents and uses the fusion the first one stored
    a.set_fusion(Fusion(alpha=0.2))
    b = CaseIndex(server_url=url, collection="server-test")
    assert b.count() == 80 and b.fusion.alpha == 0.2
    lexical = b.query(QUERY, k=5, method="lexical")
    assert lexical and all(h.lexical > 0 for h in lexical)
    assert [h.record_id for h in b.query(QUERY, k=5)] == [h.record_id for h in a.query(QUERY, k=5)]
    assert b.query(QUERY, k=5, ward_id="NOSUCH") == []


def test_ingest_cli_into_a_chroma_server(chroma_server, tmp_path):
    url, data = chroma_server
    csv_path = tmp_path / "cases.csv"
    csv_path.write_text(
        "record_id,patient_id,name,mrn,phone,address,age,sex,ward_id,admitted,diagnosis,text\n"
        "CASE-001,PT-9,Wilhelmina Quackenbush,MRN0047731,020 7946 0321,12 Larkspur Lane,71,F,"
        'CARD,2023-05-01,heart failure,"Mrs Quackenbush (MRN0047731, 020 7946 0321), '
        'breathless, ankle swelling, NT-proBNP 4200."\n',
        encoding="utf-8",
    )
    args = ["ingest-cases", str(csv_path), "--chroma-url", url, "--no-tune", "--json"]
    args += ["--key-file", str(tmp_path / "deid.key")]
    first = CliRunner().invoke(_app(), args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["embedded"] == 1
    second = CliRunner().invoke(_app(), args)
    assert json.loads(second.output.strip().splitlines()[-1])["unchanged"] == 1
    hit = CaseIndex(server_url=url).query("breathless with ankle swelling", k=1)[0]
    assert hit.diagnosis == "heart failure"
    text = _all_bytes(data) + first.output + second.output
    assert not [p for p in PLANTED if p.lower() in text.lower()]


def test_agent_tool_uses_the_chroma_server_from_settings(chroma_server, tmp_path):
    from agent.app.settings import Settings
    from agent.runtime import build_context, build_index
    from knowledge.demo import generate
    from knowledge.records import write_cases
    from tools.registry import call_tool
    from tools.roles import Caller, Role

    url, _ = chroma_server
    settings = Settings(data_dir=tmp_path / "data", index_dir=tmp_path / "unused", chroma_url=url)
    generate(settings.data_dir, years=1, end=date(2025, 6, 30))
    write_cases(
        settings.data_dir / "cases.jsonl", generate_cases(60, seed=3, end=date(2025, 6, 30))
    )
    assert build_index(settings, log=lambda _: None) >= 60
    ctx = build_context(settings, Caller("dr.wu", Role.CLINICIAN))  # diagnoses: clinicians only
    reading = call_tool(ctx, "similar_cases", {"text": QUERY, "k": 5}).reading()
    assert "acute myocardial infarction" in reading["summary"]
    assert not (tmp_path / "unused").exists()  # nothing was written to the folder index


# --------------------------------------------------------------------------- PostgreSQL


# the ``postgres`` fixture (a throwaway cluster) is in tests/conftest.py


def test_sql_case_source_in_chunks_with_bad_rows(postgres, tmp_path):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres)
    with engine.begin() as c:
        c.execute(
            text(
                "create table cases (record_id text, patient_id text, name text, mrn text, "
                "age int, sex text, ward_id text, admitted date, discharged timestamp, "
                "diagnosis text, icd10 text, text text, outcome text)"
            )
        )
        c.execute(
            text(
                "insert into cases values "
                "('CASE-001','PT-9','Wilhelmina Quackenbush','MRN0047731',71,'F','CARD',"
                "'2023-05-01','2023-05-06 10:00','heart failure','I50.9',"
                "'Mrs Quackenbush (MRN0047731): breathless, ankle swelling.','home'),"
                "('CASE-002','PT-10',null,null,8,'M','PED','2023-06-02',null,'bronchiolitis',"
                "'J21.9','Infant with cough, fast breathing and poor feeding.',null),"
                "('CASE-003','PT-11',null,null,40,'M','ED','2023-06-03',null,'asthma',null,"
                "null,null)"
            )
        )
    engine.dispose()
    items = list(read_cases(postgres, "select * from cases order by record_id", chunk=1))
    assert [type(i).__name__ for i in items] == ["SourceCase", "SourceCase", "Problem"]
    assert str(items[2]) == "sql: row 3: missing text"
    assert items[0].discharged == date(2023, 5, 6) and items[0].age == 71
    index_dir = tmp_path / "index"
    args = ["ingest-cases", "--sql", postgres, "--query", "select * from cases"]
    args += ["--index-dir", str(index_dir), "--key-file", str(tmp_path / "k"), "--no-tune"]
    out = CliRunner().invoke(_app(), args)
    assert out.exit_code == 0, out.output
    assert "read 2 records: 2 new or changed" in out.output and "sql: row 3" in out.output
    assert CaseIndex(index_dir).count() == 2
    leaked = _all_bytes(index_dir).lower()
    assert not [p for p in PLANTED if p.lower() in leaked]


def test_sql_adt_history_becomes_daily_ward_rows(postgres, tmp_path):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres)
    with engine.begin() as c:
        c.execute(
            text(
                "create table adt (event_time timestamp, event_type text, ward_id text, "
                "from_ward_id text, patient_id text)"
            )
        )
        c.execute(
            text(
                "insert into adt values "
                "('2024-03-01 08:00','A01','ED',null,'p1'),"
                "('2024-03-01 09:30','admit','ICU',null,'p2'),"
                "('2024-03-01 15:00','A02','CARD','ED','p1'),"
                "('2024-03-02 10:00','discharge','CARD',null,'p1'),"
                "('2024-03-03 11:00','transfer','CARD','ICU','p2'),"
                "('2024-03-03 12:00','A99','CARD',null,'p3'),"
                "('2024-03-03 13:00','transfer','CARD',null,'p4')"
            )
        )
    engine.dispose()
    q = "select * from adt order by event_time"
    result = read_adt(postgres, q, chunk=2)
    assert result.events == 5
    assert [str(p) for p in result.problems] == [
        "sql: row 6: event_type: unknown",
        "sql: row 7: from_ward_id: missing for a transfer",
    ]
    rows = {
        (r.date.isoformat(), r.ward_id): (r.admissions, r.discharges, r.census) for r in result.rows
    }
    assert len(rows) == 3 * 3  # every ward every day
    assert rows["2024-03-01", "ED"] == (1, 1, 0)
    assert rows["2024-03-01", "CARD"] == (1, 0, 1)
    assert rows["2024-03-02", "CARD"] == (0, 1, 0)
    assert rows["2024-03-03", "ICU"] == (0, 1, 0)
    assert rows["2024-03-03", "CARD"] == (1, 0, 1)
    out = tmp_path / "daily.csv"
    res = CliRunner().invoke(
        _app(), ["ingest-adt", "--sql", postgres, "--query", q, "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "date,ward_id,admissions,discharges,census" and len(lines) == 10
