"""The materialization helper every asset uses: declared inputs only, derived output paths,
lineage with the exact input versions, and the content hash as the data version."""

import os

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.storage import sha256_file, write_parquet
from animespeech_assets.defs.materialize import Materialization
from animespeech_assets.defs.resources import DataResource

parts = dg.StaticPartitionsDefinition(["ep1"])


@dg.asset(partitions_def=parts, name="transcript")
def upstream(context: dg.AssetExecutionContext, data: DataResource):
    m = Materialization(context, data)
    write_parquet(pa.table({"line_id": [0, 1], "text": ["a", "b"]}), m.output())
    return m.done(row_count=2, parameters={"n": 2})


@dg.asset(partitions_def=parts, deps=[upstream], name="speaker_embeddings")
def reads_declared(context: dg.AssetExecutionContext, data: DataResource):
    m = Materialization(context, data)
    lines = pq.read_table(m.read("transcript"))
    write_parquet(lines.slice(0, 1), m.output())
    return m.done(row_count=1)


@dg.asset(partitions_def=parts, deps=[upstream], name="character_predictions")
def reads_undeclared(context: dg.AssetExecutionContext, data: DataResource):
    m = Materialization(context, data)
    m.read("episode_audio")  # not in deps
    return m.done(row_count=0)


def test_outputs_land_at_derived_paths_with_lineage_and_data_version(layout):
    result = dg.materialize([upstream, reads_declared], partition_key="ep1", resources={"data": DataResource()})
    assert result.success
    out = layout.output("speaker_embeddings", "ep1")
    assert out == layout.assets / "speaker_embeddings" / "ep1.parquet"
    assert pq.read_table(out).column("text").to_pylist() == ["a"]
    mats = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    version = mats["speaker_embeddings"].materialization.tags["dagster/data_version"]
    assert version == sha256_file(out)
    record = Ledger(layout.lineage).latest("speaker_embeddings", "ep1")
    assert record["content_hash"] == version and record["row_count"] == 1
    assert [(i["asset"], i["partition"], i["data_version"]) for i in record["inputs"]] == [
        ("transcript", "ep1", sha256_file(layout.output("transcript", "ep1")))
    ]
    assert Ledger(layout.lineage).latest("transcript", "ep1")["parameters"] == {"n": 2}


@dg.asset(partitions_def=parts, deps=[upstream], name="speaker_embeddings")
def dies_after_writing(context: dg.AssetExecutionContext, data: DataResource):
    m = Materialization(context, data)
    write_parquet(pa.table({"line_id": [9], "text": ["new"]}), m.output())
    raise RuntimeError("killed between writing its output and recording it")


def test_a_step_that_dies_after_writing_leaves_the_recorded_version_in_place(layout):
    resources = {"data": DataResource()}
    assert dg.materialize([upstream, reads_declared], partition_key="ep1", resources=resources).success
    out = layout.output("speaker_embeddings", "ep1")
    recorded = Ledger(layout.lineage).latest("speaker_embeddings", "ep1")["content_hash"]
    assert not dg.materialize([upstream, dies_after_writing], partition_key="ep1", resources=resources, raise_on_error=False).success
    assert sha256_file(out) == recorded and pq.read_table(out).column("text").to_pylist() == ["a"]
    assert Ledger(layout.lineage).latest("speaker_embeddings", "ep1")["content_hash"] == recorded
    staged = [p.name for p in out.parent.iterdir() if p.name.endswith(".staged.tmp")]
    assert len(staged) == 1  # this (live) process's: kept until a write after it has exited
    staged_path = out.parent / staged[0]
    dead = out.parent / staged[0].replace(f".{os.getpid()}.", ".999999999.")
    staged_path.rename(dead)  # as a killed process would have left it
    assert dg.materialize([upstream, reads_declared], partition_key="ep1", resources=resources).success
    assert sorted(p.name for p in out.parent.iterdir()) == ["ep1.parquet"]


def test_reading_an_undeclared_input_fails_naming_it(layout):
    result = dg.materialize([upstream, reads_undeclared], partition_key="ep1", resources={"data": DataResource()}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "character_predictions reads episode_audio" in message and "declared: transcript" in message
    assert not layout.output("character_predictions", "ep1").exists()
    assert Ledger(layout.lineage).latest("character_predictions", "ep1") is None
