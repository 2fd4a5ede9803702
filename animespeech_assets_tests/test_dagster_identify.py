"""Speaker identification end to end through the CLI and Dagster, on small generated episodes
spoken by the real default TTS and identified by the real default encoder."""

import dagster as dg
import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger

from .conftest import truth

pytestmark = pytest.mark.models  # every test here loads a real model


def characters(layout, episode):
    return [r["character"] for r in truth(layout, episode)]


def test_second_episode_predicted_from_first_episode_labels(two_episodes, capsys):
    layout = two_episodes
    labels_before = layout.annotation_file("ep1").read_bytes()
    assert main(["materialize", "--episode", "ep2"]) == 0
    out = capsys.readouterr().out
    # ep1's embeddings were computed first (its labels are needed), then the reference set
    assert out.index("speaker_embeddings [ep1]") < out.index("reference_set") < out.index("character_predictions [ep2]")
    assert "character_predictions [ep1]" not in out

    ref = pq.read_table(layout.asset_file("reference_set")).to_pylist()
    assert {r["episode"] for r in ref} == {"ep1"} and {r["source"] for r in ref} == {"label"}
    assert sorted({r["character"] for r in ref}) == ["Haruto", "Mei", "Sakura", "Yuki"]
    assert len(ref) == 12

    rows = pq.read_table(layout.asset_file("character_predictions", "ep2")).to_pylist()
    expected = characters(layout, "ep2")
    assert len(rows) == len(expected) == 12
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert sum(r["character"] == t for r, t in zip(rows, expected)) >= 11
    certain = [(r, t) for r, t in zip(rows, expected) if r["status"] == "certain"]
    assert certain and all(r["character"] == t for r, t in certain)
    for r in rows:
        assert 0 <= r["distance"] <= 2 and r["neighbours"]
        assert r["neighbours"][0]["distance"] <= r["neighbours"][-1]["distance"]
    assert layout.annotation_file("ep1").read_bytes() == labels_before  # human file untouched

    instance = dg.DagsterInstance.get()
    (check,) = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("character_predictions"), "predictions_valid"), limit=1
    )
    assert check.status.value == "SUCCEEDED"

    # ep1: labelled lines keep the human label, the rest are predicted from the others
    assert main(["materialize", "--episode", "ep1", "--select", "character_predictions"]) == 0
    capsys.readouterr()
    rows1 = pq.read_table(layout.asset_file("character_predictions", "ep1")).to_pylist()
    labelled = [r for r in rows1 if r["status"] == "labelled"]
    assert len(labelled) == 12
    assert all(r["character"] == t for r, t in zip(rows1, characters(layout, "ep1")) if r["status"] == "labelled")

    # lineage: the predictions trace back through the reference set to ep1's labels
    assert main(["lineage", "show", "character_predictions", "--episode", "ep2"]) == 0
    shown = capsys.readouterr().out
    assert "reference_set [__all__]" in shown and "ep1.csv" in shown and "ep2.mkv" in shown
    record = Ledger(layout.lineage).latest("character_predictions", "ep2")
    assert record["models"] == {"speaker_encoder": "campplus:campplus_cn_en_common"}
    assert set(record["parameters"]) >= {"k", "certain_threshold", "uncertain_threshold"}


def test_reference_set_is_not_rebuilt_when_nothing_changed(two_episodes, capsys):
    layout = two_episodes
    assert main(["materialize", "--episode", "ep2"]) == 0
    assert main(["materialize", "--episode", "ep2", "--select", "character_predictions"]) == 0
    assert len(Ledger(layout.lineage).records("reference_set")) == 1
    # a new label changes the reference set's inputs: it is rebuilt before predicting
    last = pq.read_table(layout.asset_file("transcript", "ep1")).to_pylist()[-1]  # not labelled yet
    with open(layout.annotation_file("ep1"), "a", encoding="utf-8") as fh:
        fh.write(f"{last['start']},{last['end']},{characters(layout, 'ep1')[-1]}\n")
    assert main(["materialize", "--episode", "ep2", "--select", "character_predictions"]) == 0
    assert len(Ledger(layout.lineage).records("reference_set")) == 2
    assert pq.read_table(layout.asset_file("reference_set")).num_rows == 13
    capsys.readouterr()
    assert main(["evaluate"]) == 0
    assert "reference samples: 13" in capsys.readouterr().out


def test_episode_without_subtitles_is_transcribed_and_identified(two_episodes):
    layout = two_episodes
    (layout.inputs / "ep2.srt").unlink()
    assert main(["materialize", "--episode", "ep2"]) == 0
    lines = pq.read_table(layout.asset_file("transcript", "ep2")).to_pylist()
    assert lines and {r["source"] for r in lines} == {"asr"}
    assert all(r["avg_logprob"] is not None and r["no_speech_prob"] is not None for r in lines)
    rows = pq.read_table(layout.asset_file("character_predictions", "ep2")).to_pylist()
    truth_rows = truth(layout, "ep2")
    # each recognised line's speaker is the ground-truth line it overlaps most
    correct = 0
    for r in rows:
        best = max(truth_rows, key=lambda t: min(r["end"], float(t["speech_end"])) - max(r["start"], float(t["speech_start"])))
        correct += r["character"] == best["character"]
    assert correct / len(rows) >= 0.85
    record = Ledger(layout.lineage).latest("transcript", "ep2")
    assert record["models"]["asr"].startswith("faster_whisper:embedded:whisper-base")
    assert record["parameters"]["source"] == "asr"
