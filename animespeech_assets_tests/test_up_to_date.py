"""Later runs reuse what is up to date: the CLI skips an asset whose code version, inputs and
outputs are unchanged, and reruns exactly what a changed file or code version makes stale."""

import dagster as dg
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.defs.planning import split_current
from animespeech_assets.provenance.freshness import newest_records, stale_reason

from .conftest import write_tone_episode

TEXT = ["materialize", "--episode", "ep01", "--select", "episode_audio,transcript"]


def materialized(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("materialized ")]


def skipped(out: str) -> list[str]:
    return [line.split()[3] for line in out.splitlines() if line.startswith("up to date: ")]


def test_a_second_run_skips_what_is_up_to_date_and_a_changed_file_reruns_only_what_reads_it(layout, capsys):
    write_tone_episode(layout, "ep01")
    assert main(TEXT) == 0
    assert materialized(capsys.readouterr().out) == ["episode_audio", "transcript"]
    records = len(Ledger(layout.lineage).records())
    runs = len(dg.DagsterInstance.get().get_runs())

    assert main(TEXT) == 0
    out = capsys.readouterr().out
    assert materialized(out) == [] and skipped(out) == ["episode_audio", "transcript"]
    assert len(Ledger(layout.lineage).records()) == records and len(dg.DagsterInstance.get().get_runs()) == runs  # no run at all

    layout.annotation_file("ep01").write_text("line_id,character\n1,A\n", encoding="utf-8")  # neither reads labels
    assert main(TEXT) == 0
    assert skipped(capsys.readouterr().out) == ["episode_audio", "transcript"]

    srt = layout.inputs / "ep01.srt"
    srt.write_text(srt.read_text(encoding="utf-8").replace("つぎ", "つぎは"), encoding="utf-8")
    assert main(TEXT) == 0
    out = capsys.readouterr().out
    assert materialized(out) == ["transcript"] and skipped(out) == ["episode_audio"]
    assert f"transcript [ep01]: {srt} changed" in out

    (layout.inputs / "ep01.episode.json").write_text('{"audio": 1}', encoding="utf-8")  # a new settings file: both read it
    assert main(TEXT) == 0
    assert materialized(capsys.readouterr().out) == ["episode_audio", "transcript"]

    assert main(TEXT + ["--force"]) == 0
    assert materialized(capsys.readouterr().out) == ["episode_audio", "transcript"]


def test_an_output_changed_or_removed_behind_the_pipelines_back_is_made_again(layout, capsys):
    write_tone_episode(layout, "ep01")
    assert main(TEXT) == 0
    transcript = layout.output("transcript", "ep01")
    transcript.write_bytes(transcript.read_bytes() + b"x")
    capsys.readouterr()
    assert main(TEXT) == 0
    out = capsys.readouterr().out
    assert materialized(out) == ["transcript"] and f"{transcript} changed since it was written" in out
    layout.output("episode_audio", "ep01").unlink()
    # whatever reads an asset that runs runs too, in whatever order the keys come
    to_run, current = split_current(layout, [dg.AssetKey("transcript"), dg.AssetKey("episode_audio")], "ep01")
    assert to_run == {dg.AssetKey("transcript"): "episode_audio runs first",
                      dg.AssetKey("episode_audio"): f"{layout.output('episode_audio', 'ep01')} is missing"} and current == []
    assert main(TEXT) == 0
    assert materialized(capsys.readouterr().out) == ["episode_audio", "transcript"]


def test_a_new_code_version_or_a_newer_upstream_makes_a_record_stale(layout):
    write_tone_episode(layout, "ep01")
    assert main(TEXT) == 0
    newest = newest_records(Ledger(layout.lineage))
    record = newest[("transcript", "ep01")]
    assert stale_reason(record, record["code_version"], newest) is None
    assert stale_reason(record, "99", newest) == f"code version {record['code_version']} -> 99"
    older_audio = {**newest, ("episode_audio", "ep01"): {**newest[("episode_audio", "ep01")], "content_hash": "0" * 64}}
    assert stale_reason(record, record["code_version"], older_audio) == "episode_audio [ep01] has a newer version"
    assert stale_reason(None, "1", newest) == "never materialized"


@pytest.mark.models
def test_labelling_an_episode_reruns_its_predictions_and_not_its_audio_transcript_or_embeddings(layout, capsys):
    write_tone_episode(layout, "ep01", spoken=True)
    layout.annotation_file("ep01").write_text("line_id,character\n1,A\n", encoding="utf-8")
    write_tone_episode(layout, "ep02", spoken=True)
    layout.annotation_file("ep02").write_text("line_id,character\n2,B\n", encoding="utf-8")
    for ep in ("ep01", "ep02"):
        assert main(["materialize", "--episode", ep, "--select", "episode_audio,transcript,speaker_embeddings,character_predictions"]) == 0
    capsys.readouterr()
    assert main(["materialize", "--episode", "ep02", "--select", "episode_audio,transcript,speaker_embeddings,character_predictions"]) == 0
    out = capsys.readouterr().out
    assert materialized(out) == [] and skipped(out) == ["episode_audio", "transcript", "speaker_embeddings", "character_predictions"]
    layout.annotation_file("ep02").write_text("line_id,character\n2,B\n1,A\n", encoding="utf-8")
    assert main(["materialize", "--episode", "ep02", "--select", "episode_audio,transcript,speaker_embeddings,character_predictions"]) == 0
    out = capsys.readouterr().out
    assert materialized(out) == ["reference_set", "character_predictions"]
    assert skipped(out) == ["episode_audio", "transcript", "speaker_embeddings"]


def test_a_dataset_over_every_episode_is_out_of_date_when_an_episode_is_added(tmp_path):
    from datetime import UTC, datetime

    from animespeech_assets.core.storage import sha256_file

    out = tmp_path / "train.jsonl"
    out.write_text("{}\n")
    turns = {("dialogue_turns", ep): {"asset": "dialogue_turns", "partition": ep, "content_hash": ep * 8} for ep in ("ep1", "ep2")}
    record = {"asset": "dialogue_dataset", "partition": "Sakura", "code_version": "2", "outputs": [str(out)],
              "content_hash": sha256_file(out), "started_at": datetime.now(UTC),
              "inputs": [{"asset": "dialogue_turns", "partition": ep, "data_version": ep * 8, "path": f"/x/{ep}.parquet"} for ep in ("ep1", "ep2")]}
    assert stale_reason(record, "2", turns) is None
    with_ep3 = {**turns, ("dialogue_turns", "ep3"): {"asset": "dialogue_turns", "partition": "ep3", "content_hash": "ep3" * 8}}
    assert stale_reason(record, "2", with_ep3) == "dialogue_turns [ep3] is new"
    other_asset = {**turns, ("transcript", "ep3"): {"asset": "transcript", "partition": "ep3", "content_hash": "t" * 8}}
    assert stale_reason(record, "2", other_asset) is None


@pytest.mark.models
def test_labelled_episodes_embedded_by_another_default_encoder_are_embedded_again_first(layout, capsys):
    """A project upgrade that changes the default encoder changes speaker_embeddings' code version; a
    labelled episode embedded before it is embedded again before the reference set is built (which
    refuses to mix encoders), instead of failing the next episode's run."""
    from animespeech_assets.core.lineage import InputVersion, LineageRecord, utcnow

    write_tone_episode(layout, "ep01", spoken=True)
    layout.annotation_file("ep01").write_text("line_id,character\n1,A\n2,B\n", encoding="utf-8")
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript,speaker_embeddings"]) == 0
    ledger = Ledger(layout.lineage)
    newest = ledger.latest("speaker_embeddings", "ep01")
    older = "1+resemblyzer,"  # what an earlier release's default made
    ledger.write(LineageRecord("speaker_embeddings", "ep01", "older-run", older, newest["content_hash"], newest["row_count"],
                               newest["outputs"], utcnow(), utcnow(), inputs=[InputVersion(**i) for i in newest["inputs"]]))
    key = dg.AssetKey("speaker_embeddings")
    from animespeech_assets.defs.speakers import speaker_embeddings

    assert speaker_embeddings.code_versions_by_key[key].endswith("+campplus,")
    assert list(split_current(layout, [key], "ep01")[0].values())[0] == f"code version {older} -> {speaker_embeddings.code_versions_by_key[key]}"
    capsys.readouterr()

    write_tone_episode(layout, "ep02", spoken=True)
    assert main(["materialize", "--episode", "ep02"]) == 0
    out = capsys.readouterr().out
    assert "materialized speaker_embeddings [ep01]" in out and "materialized reference_set" in out
    assert split_current(layout, [key], "ep01")[0] == {}
