"""Releases with real speech: a dub-first MKV with fansub ASS inside predicts as well as the same
episode given as plain files; English subtitles over Japanese audio give Japanese text (recognised
line by line) with the English kept as `translation`."""

import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.audio import decode_audio
from animespeech_assets.core.metrics import cer

from .conftest import truth
from .releases import AudioTrack, SubtitleTrack, fansub_ass, make_release

pytestmark = pytest.mark.models  # Kokoro speech, Resemblyzer, Whisper

IDENTIFY = "episode_audio,transcript,speaker_embeddings,character_predictions"


def table(layout, asset, episode):
    return pq.read_table(layout.output(asset, episode)).to_pylist()


def test_a_dub_first_release_predicts_like_the_plain_files_and_foreign_subtitles_get_japanese_text(two_episodes):
    layout = two_episodes
    japanese, _ = decode_audio(layout.inputs / "ep2.mkv", 48_000)
    lines = truth(layout, "ep2")
    dialogue = [(float(t["start"]), float(t["end"]), "", t["text"]) for t in lines]
    ass = layout.root / "ep2.fansub.ass"
    ass.write_text(fansub_ass(dialogue, len(japanese) / 48_000), encoding="utf-8")
    make_release(layout.inputs / "ep2_release.mkv",
                 [AudioTrack(japanese[::-1].copy(), 48_000, "eng", "English", default=True), AudioTrack(japanese, 48_000, "jpn")],
                 [SubtitleTrack(ass, "ass", "jpn", default=True)])
    english = layout.root / "ep2.en.srt"
    english.write_text("".join(f"{i}\n{_ts(s)} --> {_ts(e)}\nEnglish line {i}\n\n" for i, (s, e, _, _) in enumerate(dialogue, 1)),
                       encoding="utf-8")
    make_release(layout.inputs / "ep2_english.mkv", [AudioTrack(japanese, 48_000, "jpn", default=True)],
                 [SubtitleTrack(english, "srt", "eng", default=True)])
    for ep in ("ep1", "ep2", "ep2_release"):
        assert main(["materialize", "--episode", ep, "--select", IDENTIFY]) == 0

    plain, release = table(layout, "transcript", "ep2"), table(layout, "transcript", "ep2_release")
    assert [r["text"] for r in release] == [r["text"] for r in plain]  # exactly the dialogue: no sign, song, note, drawing
    assert max(abs(a["start"] - b["start"]) for a, b in zip(plain, release)) <= 0.005 + 1e-9  # ASS times are centiseconds
    assert max(abs(a["end"] - b["end"]) for a, b in zip(plain, release)) <= 0.005 + 1e-9  # ASS times are centiseconds
    def speaker(start):  # the true character of the line that starts nearest
        return min(lines, key=lambda t: abs(float(t["start"]) - start))["character"]

    def accuracy(episode):
        rows = table(layout, "character_predictions", episode)
        return sum(r["predicted_character"] == speaker(r["start"]) for r in rows) / len(rows)

    assert accuracy("ep2_release") == accuracy("ep2") >= 0.9  # from the Japanese track, not the (reversed) dub

    assert main(["materialize", "--episode", "ep2_english", "--select", "episode_audio,transcript"]) == 0
    rows = table(layout, "transcript", "ep2_english")
    assert {r["source"] for r in rows} == {"subtitle_times_asr_text"}
    assert [r["translation"] for r in rows] == [f"English line {i}" for i in range(1, len(rows) + 1)]
    assert [(r["start"], r["end"]) for r in rows] == [(r["start"], r["end"]) for r in plain]  # cut at the subtitle times
    errors = [cer(t["text"], r["text"]) for t, r in zip(lines, rows)]
    assert sum(e for e, _ in errors) / sum(n for _, n in errors) <= 0.25  # Japanese from recognition, not English


def _ts(sec: float) -> str:
    ms = int(round(sec * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
