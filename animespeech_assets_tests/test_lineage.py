from datetime import timedelta

from animespeech_assets.core.lineage import InputVersion, Ledger, LineageRecord, format_history, format_trace, utcnow


def rec(asset, partition, content_hash, inputs=(), parameters=None, offset=0):
    t = utcnow() + timedelta(seconds=offset)
    return LineageRecord(
        asset=asset, partition=partition, run_id=f"run-{content_hash}", code_version="1",
        content_hash=content_hash, row_count=3, outputs=[f"/data/{asset}/{partition}.parquet"],
        started_at=t, finished_at=t, parameters=parameters or {}, models={"asr": "m"}, inputs=list(inputs),
    )


def test_records_are_one_file_each_and_queryable_through_duckdb(tmp_path):
    ledger = Ledger(tmp_path)
    assert ledger.records() == []  # the views work before any record exists
    ledger.write(rec("a", "ep1", "h1"))
    ledger.write(rec("a", "ep2", "h2", offset=1))
    files = sorted(p.relative_to(tmp_path / "records").parts[:2] for p in (tmp_path / "records").rglob("*.parquet"))
    assert files == [("a", "ep1"), ("a", "ep2")]
    assert (tmp_path / "lineage.duckdb").exists()
    con = ledger.connect()
    assert con.execute("SELECT partition, content_hash FROM lineage ORDER BY partition").fetchall() == [
        ("ep1", "h1"), ("ep2", "h2"),
    ]


def test_records_read_once_per_process_still_see_every_new_record(tmp_path):
    """Records are kept in memory between calls; a record written since (by this process or another:
    a new file) is seen by the next call, and what a caller changes in a record is not kept."""
    ledger = Ledger(tmp_path)
    ledger.write(rec("a", "ep1", "h1"))
    first = ledger.records("a")
    first[0]["content_hash"] = "changed by a caller"
    assert [r["content_hash"] for r in ledger.records("a")] == ["h1"]
    Ledger(tmp_path).write(rec("a", "ep1", "h2", offset=1))  # another ledger object, as another process
    assert [r["content_hash"] for r in ledger.records("a", "ep1")] == ["h2", "h1"]  # newest first
    assert ledger.latest("a", "ep1")["content_hash"] == "h2" and ledger.records("b") == []


def test_trace_follows_the_exact_input_versions_used(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.write(rec("a", "ep1", "old", offset=0))
    ledger.write(rec("b", "ep1", "b1", inputs=[InputVersion("a", "ep1", "old")], offset=1))
    ledger.write(rec("a", "ep1", "new", offset=2))  # upstream re-materialized after b
    trace = ledger.trace("b", "ep1")
    assert trace["content_hash"] == "b1"
    (inp,) = trace["inputs"]
    assert inp["record"]["content_hash"] == "old"  # not the newest a, the one b read
    text = format_trace(trace)
    assert "b [ep1] version b1" in text and "a [ep1] version old" in text


def test_history_reports_what_changed_per_partition(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.write(rec("t", "ep1", "h1", parameters={"min_duration": 0.2}, offset=0))
    ledger.write(rec("t", "ep2", "h9", parameters={"min_duration": 0.2}, offset=1))
    ledger.write(rec("t", "ep1", "h2", parameters={"min_duration": 0.5}, offset=2))
    lines = format_history(ledger.records("t")).splitlines()
    assert len(lines) == 3
    assert "ep1" in lines[0] and "min_duration: 0.2->0.5" in lines[0]
    assert "ep2" in lines[1] and lines[1].endswith("first")
    assert "ep1" in lines[2] and lines[2].endswith("first")
