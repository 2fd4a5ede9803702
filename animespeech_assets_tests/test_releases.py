"""Real releases in, as they come: tracks inside the MKV/MP4, chosen by language; only dialogue from
fansub ASS; image subtitles reported. Built with FFmpeg from tone tracks (no model is loaded)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, load_audio
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.textio import TextFileError
from animespeech_assets.ingest.episodes import find_episode
from animespeech_assets.ingest.tracks import EpisodeSettings, Track, TrackPreferences, choose_audio, choose_subtitles, plan_release
from animespeech_assets.ingest.transcripts import TranscriptError, TranscriptSource, uses_recognition

from .releases import AudioTrack, SubtitleTrack, dominant_frequency, fansub_ass, make_release, pgs_sup, tone

DIALOGUE = [(1.0, 2.0, "Aya", "{\\i1}はじめまして{\\i0}"), (3.0, 4.5, "Ren", "よろしく\\Nね"), (5.2, 6.4, "Aya", "またね")]
SECONDS = 8.0
JA_HZ, EN_HZ = 440.0, 880.0


def dub_first_release(layout, key="rel", subtitles=None):
    bursts = [(s, e) for s, e, _, _ in DIALOGUE]
    audio = [AudioTrack(tone(SECONDS, bursts, EN_HZ), 48_000, "eng", "English dub", default=True),
             AudioTrack(tone(SECONDS, bursts, JA_HZ), 48_000, "jpn", "日本語")]
    if subtitles is None:
        ass = layout.root / "fansub.ass"
        ass.write_text(fansub_ass(DIALOGUE, SECONDS), encoding="utf-8")
        subtitles = [SubtitleTrack(ass, "ass", "jpn", "Full subs", default=True)]
    return make_release(layout.inputs / f"{key}.mkv", audio, subtitles)


def test_dub_first_mkv_with_fansub_ass_inside_gives_exactly_its_dialogue_from_the_japanese_track(layout):
    dub_first_release(layout)
    assert main(["materialize", "--episode", "rel", "--select", "episode_audio,transcript"]) == 0
    audio = load_audio(layout.output("episode_audio", "rel"))
    burst = np.asarray(audio[int(1.2 * ANALYSIS_SAMPLE_RATE):int(1.8 * ANALYSIS_SAMPLE_RATE)])
    assert dominant_frequency(burst, ANALYSIS_SAMPLE_RATE) == pytest.approx(JA_HZ, abs=5)  # not the default English dub
    lines = pq.read_table(layout.output("transcript", "rel")).to_pylist()
    assert [(r["text"], r["raw_text"], r["actor"], r["source"]) for r in lines] == [
        ("はじめまして", "はじめまして", "Aya", "subtitles"), ("よろしくね", "よろしく\nね", "Ren", "subtitles"),
        ("またね", "またね", "Aya", "subtitles")]
    for r, (start, end, _, _) in zip(lines, DIALOGUE):
        assert abs(r["start"] - start) <= 0.005 and abs(r["end"] - end) <= 0.005
    dropped = pq.read_table(layout.asset_file("transcript", "rel", ".dropped.parquet")).to_pylist()
    # FFmpeg does not carry ASS Comment events into Matroska; an external file keeps them (next test)
    assert sorted(d["reason"] for d in dropped) == ["drawing", "karaoke", "karaoke", "note", "sign", "sign", "song", "song"]
    assert {d["raw_text"] for d in dropped if d["reason"] == "sign"} == {"{\\pos(960,120)\\fad(200,200)}駅前", "{\\an8\\pos(400,300)}本日休業"}
    record = Ledger(layout.lineage).latest("episode_audio", "rel")
    assert record["parameters"]["audio_stream"] == 1 and "language jpn" in record["parameters"]["track_rule"]
    assert Ledger(layout.lineage).latest("transcript", "rel")["parameters"]["subtitle_language"] == "jpn"


def test_an_external_file_takes_precedence_and_the_dialogue_rule_is_configurable(layout):
    dub_first_release(layout)
    external = layout.inputs / "rel.ass"
    external.write_text(fansub_ass(DIALOGUE[:2], SECONDS), encoding="utf-8")
    ep = find_episode(layout.inputs, "rel")
    plan = plan_release(ep.media, ep.subtitles, ep.settings, TrackPreferences())
    assert plan.subtitles.kind == "external" and "takes precedence" in plan.subtitles.rule
    from animespeech_assets.ingest.dialogue_rules import DialogueRule
    from animespeech_assets.ingest.subtitles import transcript_from_subtitles

    table, report = transcript_from_subtitles(external, SECONDS, _filters())
    assert table.column("text").to_pylist() == ["はじめまして", "よろしくね"]
    assert report.not_dialogue == {"sign": 2, "karaoke": 2, "song": 2, "note": 1, "drawing": 1, "comment": 1}
    # keep the song styles (someone building a singing dataset), drop Ren's lines by style
    table, report = transcript_from_subtitles(external, SECONDS, _filters(), DialogueRule(include_styles=("^ED$",)))
    assert "空に歌えば" in table.column("text").to_pylist() and report.not_dialogue["song"] == 1
    (layout.inputs / "rel.episode.json").write_text(json.dumps({"subtitles": 2, "exclude_styles": ["^Default$"]}))
    ep = find_episode(layout.inputs, "rel")
    plan = plan_release(ep.media, ep.subtitles, ep.settings, TrackPreferences())
    assert plan.subtitles.kind == "embedded" and plan.subtitles.track.index == 2 and "set in rel.episode.json" in plan.subtitles.rule
    assert plan.settings.exclude_styles == ("^Default$",)


def _filters():
    from animespeech_assets.ingest.subtitles import TranscriptFilters

    return TranscriptFilters()


def test_mp4_with_a_mov_text_track(layout):
    bursts = [(s, e) for s, e, _, _ in DIALOGUE]
    srt = layout.root / "subs.srt"
    srt.write_text("".join(f"{i}\n00:00:0{int(s)},{int(s * 1000) % 1000:03d} --> 00:00:0{int(e)},{int(e * 1000) % 1000:03d}\n{t}\n\n"
                           for i, (s, e, _, t) in enumerate(DIALOGUE, 1)).replace("{\\i1}", "").replace("{\\i0}", "").replace("\\N", "\n"),
                   encoding="utf-8")
    make_release(layout.inputs / "mp4ep.mp4", [AudioTrack(tone(SECONDS, bursts, JA_HZ), 48_000, "jpn", default=True)],
                 [SubtitleTrack(srt, "mov_text", "jpn")], audio_codec="aac")
    assert main(["materialize", "--episode", "mp4ep", "--select", "episode_audio,transcript"]) == 0
    lines = pq.read_table(layout.output("transcript", "mp4ep")).to_pylist()
    assert [r["text"] for r in lines] == ["はじめまして", "よろしくね", "またね"]
    for r, (start, end, _, _) in zip(lines, DIALOGUE):
        assert abs(r["start"] - start) <= 0.03 and abs(r["end"] - end) <= 0.03  # AAC's encoder delay: one frame at most


def test_srt_and_webvtt_tracks_are_chosen_by_language(layout):
    srt = layout.root / "en.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nNice to meet you\n\n", encoding="utf-8")
    vtt = layout.root / "ja.vtt"
    vtt.write_text("WEBVTT\n\n00:00:03.000 --> 00:00:04.500\n<v Ren>よろしく</v>\n", encoding="utf-8")
    dub_first_release(layout, "two", [SubtitleTrack(srt, "srt", "eng", default=True), SubtitleTrack(vtt, "webvtt", "jpn")])
    assert main(["materialize", "--episode", "two", "--select", "episode_audio,transcript"]) == 0
    lines = pq.read_table(layout.output("transcript", "two")).to_pylist()
    assert [(r["start"], r["end"], r["text"]) for r in lines] == [(3.0, 4.5, "よろしく")]


def test_a_pgs_only_release_is_transcribed_by_recognition_and_says_so(layout, capsys):
    sup = pgs_sup(layout.root / "signs.sup", [1.0, 3.0])
    dub_first_release(layout, "pgs", [SubtitleTrack(sup, "copy", "jpn")])
    ep = find_episode(layout.inputs, "pgs")
    plan = plan_release(ep.media, ep.subtitles, ep.settings, TrackPreferences())
    assert plan.subtitles.kind == "none" and "only image or unsupported subtitles" in plan.subtitles.rule
    assert plan.subtitles.unusable == ["#2 subtitle pgssub jpn, image: unusable"]
    assert uses_recognition(TranscriptSource.auto, plan)
    with pytest.raises(TranscriptError, match=r"pgs\.mkv: no usable subtitles \(only image or unsupported subtitles"):
        uses_recognition(TranscriptSource.subtitles, plan)
    assert main(["scan"]) == 0
    out = capsys.readouterr().out
    assert "    #0 audio flac eng 'English dub', 1 ch (default)" in out and "  * #1 audio flac jpn '日本語', 1 ch" in out
    assert "    #2 subtitle pgssub jpn, image: unusable" in out
    assert "subtitles: only image or unsupported subtitles (unusable as text): transcribed by speech recognition" in out


def track(index, language, title="", default=False, kind="audio", codec="aac"):
    return Track(index, kind, codec, language, title, default, False, 2)


@pytest.mark.parametrize("tracks, chosen, rule", [
    ([track(0, "eng", default=True), track(1, "jpn")], 1, "language jpn"),
    ([track(0, "jpn", "Commentary", default=True), track(1, "jpn", "Main")], 1, "skipped #0 as commentary"),
    ([track(0, "jpn"), track(1, "jpn", default=True)], 1, "took #1 (the default one)"),
    ([track(0, "eng"), track(1, "spa", default=True)], 1, "no track in jpn: took the default track #1"),
    ([track(0, "und")], 0, "the only audio track"),
])
def test_audio_track_rules(tracks, chosen, rule, tmp_path):
    choice = choose_audio(tracks, TrackPreferences(), EpisodeSettings(), tmp_path / "x.mkv")
    assert choice.track.index == chosen and rule in choice.rule


def test_subtitle_rules_prefer_full_dialogue_tracks_and_fall_back_to_other_languages():
    subs = [track(2, "jpn", "Signs & Songs", kind="subtitle", codec="ass"), track(3, "jpn", "Full", kind="subtitle", codec="ass"),
            track(4, "eng", kind="subtitle", codec="subrip")]
    choice = choose_subtitles(subs, None, TrackPreferences(), EpisodeSettings())
    assert choice.track.index == 3 and "skipped #2 as signs/songs only" in choice.rule
    choice = choose_subtitles(subs[2:], None, TrackPreferences(), EpisodeSettings())
    assert choice.track.index == 4 and choice.language == "eng"  # jpn then any: English times are still good


@pytest.mark.parametrize("content, fragment", [
    ('{"audio": "two"}', "'audio' must be"), ('{"track": 1}', "unknown key(s) ['track']"), ("[1]", "expected a JSON object"),
    ('{"subtitles": "first"}', "'subtitles' must be a stream index"), ('{"exclude_styles": ["("]}', "is not a regular expression"),
    ("{oops", "not a readable JSON object"),
])
def test_bad_episode_settings_files_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "ep.episode.json"
    path.write_text(content)
    with pytest.raises(TextFileError) as err:
        EpisodeSettings.read(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_a_settings_file_naming_a_missing_stream_fails_before_anything_is_written(layout):
    dub_first_release(layout)
    (layout.inputs / "rel.episode.json").write_text('{"audio": 7}')
    assert main(["materialize", "--episode", "rel", "--select", "episode_audio"]) == 1
    assert not layout.output("episode_audio", "rel").exists()


def test_translations_of_recognised_lines_reach_sharegpt_and_the_provenance_parquet(tmp_path):
    import pyarrow as pa

    from animespeech_assets.datasets import dialogue
    from animespeech_assets.datasets.formats.provenance import DIALOGUE_SCHEMA
    from animespeech_assets.datasets.formats.sharegpt import to_sharegpt

    lines = pa.Table.from_pylist([
        {"line_id": 1, "start": 0.0, "end": 1.0, "character": "B", "status": "certain", "text": "行こう", "translation": "Let's go"},
        {"line_id": 2, "start": 1.2, "end": 2.0, "character": "A", "status": "certain", "text": "うん", "translation": "Yeah"},
        {"line_id": 3, "start": 2.1, "end": 3.0, "character": "A", "status": "certain", "text": "今すぐ", "translation": "Right now"},
    ])
    turns = dialogue.conversations(lines, dialogue.DialogueOptions())
    (sample,) = dialogue.samples("ep", turns, dialogue.SampleOptions("A"))
    assert sample["translations"] == ["Let's go", "Yeah Right now"]  # A's two lines are one message
    assert to_sharegpt(sample)["conversations"][1:] == [
        {"from": "human", "value": "行こう", "translation": "Let's go"}, {"from": "gpt", "value": "うん 今すぐ", "translation": "Yeah Right now"}]
    row = pa.Table.from_pylist([{**sample, "split": "train"}], schema=DIALOGUE_SCHEMA).to_pylist()[0]
    assert row["translations"] == ["Let's go", "Yeah Right now"] and row["messages"][2]["content"] == "うん 今すぐ"
