import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.storage import sha256_file
from animespeech_assets.definitions import defs
from animespeech_assets.defs.partitions import EPISODES
from animespeech_assets.defs.resources import DataResource, TracksResource
from animespeech_assets.defs.sensors import new_episodes_sensor

from .conftest import write_tone_episode


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("episode_job")
    assert {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()} >= {"episode_audio", "transcript"}
    # what users expect to be on is on
    assert {s.name for s in defs.sensors if s.default_status == dg.DefaultSensorStatus.RUNNING} == {
        "new_episodes_sensor", "annotations_sensor", "automation_sensor", "dead_runs_sensor",
    }
    (nightly,) = defs.schedules
    assert (nightly.name, nightly.cron_schedule, nightly.default_status) == (
        "nightly_refinement", "0 3 * * *", dg.DefaultScheduleStatus.RUNNING,
    )


def test_sensor_registers_new_episodes_once_and_requests_runs(layout):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep 02.mkv").write_bytes(b"x")
    instance = dg.DagsterInstance.get()
    ctx = dg.build_sensor_context(instance=instance, resources={"data": DataResource(), "tracks": TracksResource()})
    result = new_episodes_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["ep01", "ep_02"]
    # the chosen tracks are on the run (the unreadable file gets none: its run fails naming the file)
    assert result.run_requests[0].tags == {"animespeech/audio_track": "#1 audio aac und, 2 ch",
                                           "animespeech/subtitles": "external: ep01.srt"}
    assert result.run_requests[1].tags == {}
    # no labels yet: the new episodes run what needs none (predictions follow once labels exist)
    assert [k.to_user_string() for k in result.run_requests[0].asset_selection] == ["episode_audio", "transcript", "speaker_embeddings"]
    assert list(result.dynamic_partitions_requests[0].partition_keys) == ["ep01", "ep_02"]
    instance.add_dynamic_partitions(EPISODES, ["ep01", "ep_02"])
    again = new_episodes_sensor(dg.build_sensor_context(instance=instance, resources={"data": DataResource(), "tracks": TracksResource()}))
    assert isinstance(again, dg.SkipReason)


@pytest.mark.models
def test_cli_materialize_runs_both_assets_writes_lineage_and_data_versions(layout, capsys):
    write_tone_episode(layout, "ep01")
    assert main(["materialize", "--episode", "ep01"]) == 0
    # no labels anywhere yet: everything up to the embeddings runs, predictions wait for labels
    assert layout.asset_file("speaker_embeddings", "ep01").exists()
    assert not layout.asset_file("character_predictions", "ep01").exists()

    audio = np.load(layout.asset_file("episode_audio", "ep01", ".npy"))
    assert audio.dtype == np.float32 and abs(len(audio) / 16000 - 6.0) < 0.05
    table = pq.read_table(layout.asset_file("transcript", "ep01")).to_pylist()
    assert [(r["line_id"], r["start"], r["end"], r["text"]) for r in table] == [
        (1, 1.0, 2.0, "はじめ"), (2, 3.0, 4.5, "つぎ"),
    ]

    instance = dg.DagsterInstance.get()
    assert "ep01" in instance.get_dynamic_partitions(EPISODES)
    ledger = Ledger(layout.lineage)
    for asset, suffix in (("episode_audio", ".npy"), ("transcript", ".parquet")):
        record = ledger.latest(asset, "ep01")
        out = layout.asset_file(asset, "ep01", suffix)
        assert record["content_hash"] == sha256_file(out)
        extra = [str(layout.asset_file("transcript", "ep01", ".dropped.parquet"))] if asset == "transcript" else []
        assert record["outputs"] == [str(out)] + extra  # the transcript's side table of events that are not dialogue
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event.asset_materialization.tags["dagster/data_version"] == record["content_hash"]
    transcript_record = ledger.latest("transcript", "ep01")
    assert {i["asset"] for i in transcript_record["inputs"]} == {"episode_audio", ""}
    assert transcript_record["row_count"] == 2

    # selecting one asset re-runs only that asset (forced: it is up to date)
    assert main(["materialize", "--episode", "ep01", "--select", "transcript", "--force"]) == 0
    assert len(ledger.records("transcript", "ep01")) == 2 and len(ledger.records("episode_audio", "ep01")) == 1

    capsys.readouterr()
    assert main(["lineage", "show", "transcript", "--episode", "ep01"]) == 0
    shown = capsys.readouterr().out
    assert f"transcript [ep01] version {transcript_record['content_hash'][:16]}" in shown
    assert "episode_audio [ep01]" in shown and "ep01.mkv" in shown
    assert main(["lineage", "history", "transcript", "--episode", "ep01"]) == 0
    assert "same content" in capsys.readouterr().out


def test_failed_run_leaves_no_output_and_no_record(layout, capsys):
    write_tone_episode(layout, "bad", srt="1\n00:00:05,000 --> 00:00:04,000\nback\n\n")
    assert main(["materialize", "--episode", "bad"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # the cause is the last line, not buried in Dagster's log above
    assert last.startswith("transcript: SubtitleError: ") and "bad.srt" in last and "ends before it starts" in last
    assert layout.asset_file("episode_audio", "bad", ".npy").exists()  # the audio step itself succeeded
    assert not layout.asset_dir("transcript").exists() or not any(layout.asset_dir("transcript").iterdir())
    assert Ledger(layout.lineage).records("transcript") == []


def test_unknown_episode_is_a_clear_error(layout, capsys):
    assert main(["materialize", "--episode", "nope"]) == 1
    assert "no media file for episode 'nope'" in capsys.readouterr().err
