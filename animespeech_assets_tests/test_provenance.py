"""Lineage a person can ask: why is this row in the dataset (traced to the subtitle cue, the
annotation row or the model's neighbours, from what was recorded), what changed between two
versions, and which versions are kept."""

import json
import random

import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.storage import sha256_file
from animespeech_assets.provenance.diff import diff, versions
from animespeech_assets.provenance.why import explain

from .conftest import truth

pytestmark = pytest.mark.models  # runs the demo episodes through the real default models


def _truth_by_start(layout):
    return {(ep, round(float(r["start"]), 3)): r for ep in ("ep1", "ep2") for r in truth(layout, ep)}


def _plain(text: str) -> str:
    return text.replace("？", "?").replace("！", "!")


def test_why_traces_export_rows_to_their_cues_and_deciders_and_diff_names_the_relabel(two_episodes, capsys):
    layout = two_episodes
    assert main(["materialize", "--episode", "ep1"]) == 0
    assert main(["materialize", "--episode", "ep2"]) == 0
    assert main(["materialize", "--character", "all", "--select", "dialogue_dataset,audio_dataset"]) == 0
    gt = _truth_by_start(layout)
    rng = random.Random(7)

    # dialogue rows: every message but the system prompt is made of the traced lines, in order
    folder = layout.exports / "dialogue" / "Sakura"
    train = [json.loads(x) for x in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    for n in rng.sample(range(len(train)), 3):
        answer = explain(layout, folder / "train.jsonl", n)
        assert answer["asset"] == "dialogue_dataset" and answer["partition"] == "Sakura"
        said = "".join(m["content"] for m in train[n]["messages"][1:])
        assert "".join(ln["text"] for ln in answer["lines"]) == said
        for ln in answer["lines"]:
            true = gt[(ln["episode"], round(ln["start"], 3))]
            assert _plain(true["text"]) == ln["text"] and int(true["cue"]) == ln["cue"]
            assert ln["subtitle_file"].endswith(f"{ln['episode']}.srt")
            assert ln["character"] == true["character"]  # the demo's predictions are right
            if ln["character_source"] == "human":
                assert ln["annotation"]["file"].endswith(f"{ln['episode']}.csv") and ln["annotation"]["row"] >= 2
                assert ln["annotation"]["sha256"] == sha256_file(layout.annotation_file(ln["episode"]))
            else:
                neighbours = ln["prediction"]["neighbours"]
                assert neighbours and neighbours[0]["sample"] in ("label", "refinement")
        assert {v["asset"] for v in answer["versions"]} >= {"dialogue_dataset", "dialogue_turns", "annotated_lines",
                                                          "character_predictions", "transcript", "reference_set", "episode_audio"}

    # audio rows, in every manifest format: one line, the clip's own
    audio = layout.exports / "audio" / "Mei"
    clips = pq.read_table(audio / "clips.parquet").to_pylist()
    n = rng.randrange(len(clips))
    for name in ("metadata.csv", "esd.list", "gpt_sovits.list", "hf/metadata.csv", "clips.parquet"):
        (line,) = explain(layout, audio / name, n)["lines"]
        assert (line["episode"], line["line_id"]) == (clips[n]["episode"], clips[n]["line_id"])
        assert gt[(line["episode"], round(line["start"], 3))]["character"] == "Mei" == line["character"]
    wav = explain(layout, audio / "wavs" / f"{clips[n]['id']}.wav")
    assert wav["lines"][0]["line_id"] == clips[n]["line_id"]
    assert wav["lines"][0]["filters"][0]["row"]["accepted"] is True

    capsys.readouterr()
    assert main(["lineage", "why", str(folder / "train.jsonl"), "--row", "0", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["lines"] == explain(layout, folder / "train.jsonl", 0)["lines"]

    # relabel three predicted lines of ep1 to another character: exactly those change
    before = pq.read_table(layout.output("annotated_lines", "ep1")).to_pylist()
    predicted = [r for r in before if r["character_source"] == "prediction"][:3]
    others = {r["line_id"]: next(c for c in ("Haruto", "Mei", "Sakura", "Yuki") if c != r["character"]) for r in predicted}
    path = layout.annotation_file("ep1")
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    path.write_text(text + "".join(f"{r['start']:.3f},{r['end']:.3f},{others[r['line_id']]}\n" for r in predicted), encoding="utf-8")
    assert main(["materialize", "--episode", "ep1", "--select", "annotated_lines"]) == 0
    d = diff(layout, "annotated_lines", "ep1")
    assert d["added"] == [] and d["removed"] == []
    assert sorted(c["key"] for c in d["changed"]) == sorted(others)
    for c in d["changed"]:
        assert c["columns"]["character"][1] == others[c["key"]]
        assert c["columns"]["character_source"] == ["prediction", "human"]
    assert [i["input"] for i in d["inputs"]] == [str(path)]
    assert [v["kept"] for v in versions(layout, "annotated_lines", "ep1")] == [True, True]

    # the dataset row built from the old version still answers from that version
    old = explain(layout, folder / "train.jsonl", 0)
    assert old["lines"] == printed["lines"]

