"""Dialogue and audio datasets, loaded with the tools people train with."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from animespeech_assets.cli import main
from animespeech_assets.datasets import clips, dialogue

from .conftest import truth

pytestmark = pytest.mark.models  # every test here loads a real model


def lines(*spec):
    """(start, end, character, status, text) -> an annotated-lines table."""
    return pa.table({
        "line_id": pa.array(range(1, len(spec) + 1), pa.int32()),
        "start": [s[0] for s in spec], "end": [s[1] for s in spec], "character": [s[2] for s in spec],
        "status": [s[3] for s in spec], "text": [s[4] for s in spec],
    })


def test_conversations_break_at_long_or_negative_gaps_and_excluded_lines():
    table = lines(
        (0.0, 1.0, "A", "labelled", "Hi 1"),
        (1.5, 2.0, "B", "certain", "Yo 2"),
        (1.8, 3.0, "A", "certain", "overlap"),  # starts before the previous ends: negative gap
        (3.5, 4.0, "B", "uncertain", "unsure"),  # status not allowed
        (4.2, 5.0, "A", "certain", "after"),
        (20.0, 21.0, "B", "certain", "much later"),  # 15 s gap
    )
    turns = dialogue.conversations(table, dialogue.DialogueOptions(max_gap=5.0)).to_pylist()
    assert [(t["conversation"], t["turn"], t["text"]) for t in turns] == [
        (1, 0, "Hi 1"), (1, 1, "Yo 2"), (2, 0, "overlap"), (3, 0, "after"), (4, 0, "much later"),
    ]
    assert all(t["gap"] is None or 0 <= t["gap"] <= 5 for t in turns)


def test_samples_single_and_multi_turn_with_merged_speakers_and_user_filter():
    table = lines(
        (0, 1, "B", "certain", "B1"), (1.2, 2, "A", "certain", "A1"), (2.2, 3, "C", "certain", "C1"),
        (3.1, 4, "C", "certain", "C2"), (4.2, 5, "A", "certain", "A2"),
    )
    turns = dialogue.conversations(table, dialogue.DialogueOptions())
    pairs = dialogue.samples("ep", turns, dialogue.SampleOptions("A"))
    assert [[m["content"] for m in s["messages"][1:]] for s in pairs] == [["B1", "A1"], ["C1 C2", "A2"]]
    assert pairs[1]["line_ids"] == [3, 4, 5] and pairs[0]["messages"][0]["content"].count("A") >= 1
    multi = dialogue.samples("ep", turns, dialogue.SampleOptions("A", max_turns=4))
    assert [m["role"] for m in multi[-1]["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    only_c = dialogue.samples("ep", turns, dialogue.SampleOptions("A", users=("C",), max_turns=4))
    assert [[m["content"] for m in s["messages"][1:]] for s in only_c] == [["C1 C2", "A2"]]


def test_clip_filters_record_reasons():
    sr = 16000
    opts = clips.ClipOptions(sample_rate=sr)
    t = np.arange(4 * sr) / sr
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 1) * (t < 3)).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.001, len(t)).astype(np.float32)
    clip, reason, stats = clips.make_clip(voice + noise, 0.0, 4.0, "こんにちは、元気です", opts)
    assert reason is None and abs(stats["duration"] - 2.2) < 0.05  # trimmed to the voice + 2 x 0.1 s
    assert abs(20 * np.log10(np.sqrt(np.mean(clip**2))) - opts.target_rms_dbfs) < 0.5
    assert clips.make_clip(voice + noise, 0.0, 4.0, "あ" * 80, opts)[1] == clips.CPS
    assert clips.make_clip(np.clip(voice * 10, -1, 1), 0.0, 4.0, "こんにちは、元気です", opts)[1] == clips.CLIPPING
    assert clips.make_clip(voice * 1e-3, 0.0, 4.0, "こんにちは、元気です", opts)[1] == clips.LOW_LEVEL
    assert clips.make_clip(voice + 100 * noise, 0.0, 4.0, "こんにちは、元気です", opts)[1] == clips.LOW_SNR
    assert clips.make_clip(voice, 1.0, 1.5, "あ", opts)[1] == clips.TOO_SHORT
    # with the line's voiced part known, the clip is that part and its padding, wherever the cue starts
    clip, reason, stats = clips.make_clip(voice + noise, 0.5, 4.0, "こんにちは、元気です", opts, speech=(1.02, 2.98))
    assert reason is None and (stats["clip_start"], stats["clip_end"]) == pytest.approx((0.92, 3.08), abs=1e-3)
    assert len(clip) == round(2.16 * sr)
    assert clips.overlapping([0, 1.0, 1.95, 5], [2.0, 1.5, 3, 6], 0.1) == {0, 1}


@pytest.fixture
def exported(two_episodes):
    layout = two_episodes
    assert main(["materialize", "--episode", "ep1"]) == 0
    assert main(["materialize", "--episode", "ep2"]) == 0
    assert main(["materialize", "--character", "all", "--select", "dialogue_dataset,audio_dataset"]) == 0
    return layout


def test_exports_load_in_their_tools_and_hold_only_each_characters_lines(exported):
    import datasets

    layout = exported
    gt = {(ep, round(float(r["start"]), 3)): r for ep in ("ep1", "ep2") for r in truth(layout, ep)}
    onsets = []  # |clip start - true speech onset|
    for character in ("Haruto", "Mei", "Sakura", "Yuki"):
        folder = layout.exports / "audio" / character
        manifest = pq.read_table(folder / "clips.parquet").to_pylist()
        assert manifest
        onsets += [abs(c["clip_start"] - float(gt[(c["episode"], round(c["start"], 3))]["speech_start"])) for c in manifest]
        for c in manifest:  # only this character's lines (checked against the ground truth)
            assert gt[(c["episode"], round(c["start"], 3))]["character"] == character
            assert gt[(c["episode"], round(c["start"], 3))]["text"].replace("？", "?").replace("！", "!") == c["text"]
        # LJSpeech / Piper: id|text, no header, ids are wav names
        rows = [line.split("|") for line in (folder / "metadata.csv").read_text(encoding="utf-8").splitlines()]
        assert [r[0] for r in rows] == [c["id"] for c in manifest] and all(len(r) == 2 for r in rows)
        assert sorted(p.stem for p in (folder / "wavs").iterdir()) == sorted(r[0] for r in rows)
        for r in rows:
            info = sf.info(folder / "wavs" / f"{r[0]}.wav")
            assert info.samplerate == 44100 and info.channels == 1 and 1.0 <= info.duration <= 15.0
        # Style-Bert-VITS2 and GPT-SoVITS lists: path|speaker|lang|text
        for name, lang in (("esd.list", "JP"), ("gpt_sovits.list", "ja")):
            parsed = [line.split("|") for line in (folder / name).read_text(encoding="utf-8").splitlines()]
            assert {(p[1], p[2]) for p in parsed} == {(character, lang)} and [p[3] for p in parsed] == [r[1] for r in rows]
        assert all((folder / "wavs" / p.split("|")[0]).exists() for p in (folder / "esd.list").read_text().splitlines())
        # Hugging Face audiofolder
        ds = datasets.load_dataset("audiofolder", data_dir=str(folder / "hf"), split="train")
        assert sorted(ds["text"]) == sorted(c["text"] for c in manifest)
        sample = ds[0]["audio"].get_all_samples()
        assert sample.sample_rate == 44100 and sample.data.shape[0] == 1
    # clips start on the speech (voice activity), not on the subtitle cue 50-200 ms before it
    assert np.mean(np.asarray(onsets) <= 0.150) >= 0.95 and len(onsets) >= 20

    # dialogue: TRL conversational JSONL through TRL's own preparation, ShareGPT and Parquet
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    from trl.data_utils import apply_chat_template, is_conversational

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
    folder = layout.exports / "dialogue" / "Sakura"
    train = datasets.load_dataset("json", data_files=str(folder / "train.jsonl"), split="train")
    assert len(train) > 0 and is_conversational(train[0])
    rendered = apply_chat_template(train[0], tok)["text"]  # what TRL's SFT preparation trains on
    assert rendered.startswith("<system>あなたはSakuraです") and "<user>" in rendered
    assert rendered.endswith(f"<assistant>{train[0]['messages'][-1]['content']}</assistant>")
    table = datasets.load_dataset("parquet", data_files=str(folder / "dataset.parquet"), split="train")
    assert set(table["split"]) <= {"train", "validation"} and len(table) == len(train) + sum(1 for _ in open(folder / "validation.jsonl"))
    turns = {ep: {t["line_id"]: t for t in pq.read_table(layout.asset_file("dialogue_turns", ep)).to_pylist()} for ep in ("ep1", "ep2")}
    for row in table:
        assert row["messages"][-1]["role"] == "assistant" and row["speakers"][-1] == "Sakura"
        assert row["line_ids"] == sorted(row["line_ids"])  # time order, never out of order
        used = [turns[row["episode"]][lid] for lid in row["line_ids"]]
        assert all(b["start"] >= a["end"] and b["start"] - a["end"] <= 5.0 for a, b in zip(used, used[1:]))
        assert all(gt[(row["episode"], round(t["start"], 3))]["character"] == t["character"] for t in used)
    sharegpt = json.loads((folder / "sharegpt_train.json").read_text(encoding="utf-8"))
    assert [c["from"] for c in sharegpt[0]["conversations"]][:2] == ["system", "human"]
    assert len(sharegpt) == len(train)
    # episodes stay whole across the split
    by_split = {}
    for row in table:
        by_split.setdefault(row["episode"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_split.values())


def test_rerunning_exports_never_duplicates(exported):
    layout = exported
    before = {p: p.read_bytes() for p in (layout.exports / "audio" / "Mei").glob("*.list")}
    n_wavs = len(list((layout.exports / "audio" / "Mei" / "wavs").iterdir()))
    assert main(["materialize", "--character", "Mei", "--select", "audio_dataset"]) == 0
    assert {p: p.read_bytes() for p in (layout.exports / "audio" / "Mei").glob("*.list")} == before
    assert len(list((layout.exports / "audio" / "Mei" / "wavs").iterdir())) == n_wavs
    with open(layout.exports / "audio" / "Mei" / "hf" / "metadata.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == n_wavs
