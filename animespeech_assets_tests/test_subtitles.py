import codecs

import pytest

from animespeech_assets.core.textio import TextFileError
from animespeech_assets.ingest.subtitles import (
    TranscriptFilters,
    clean_text,
    read_cues,
    transcript_from_subtitles,
)

SRT_STYLED = (
    "1\r\n00:00:01,234 --> 00:00:03,456\r\n<i>こんにちは</i>、\r\n{\\an8}元気？\r\n\r\n"
    "2\r\n00:00:04,000 --> 00:00:05,005\r\n<font color=\"#ff0000\">Room 101</font> は\r\nどこ？\r\n\r\n"
    "3\r\n00:00:06,100 --> 00:00:07,900\r\n2024\r\n\r\n"
)


def rows(table):
    return table.to_pylist()


def test_srt_with_bom_crlf_and_tags_gives_one_clean_row_per_cue(tmp_path):
    path = tmp_path / "ep.srt"
    path.write_bytes(codecs.BOM_UTF8 + SRT_STYLED.encode("utf-8"))
    table, report = transcript_from_subtitles(path, 60.0, TranscriptFilters())
    got = rows(table)
    assert [r["line_id"] for r in got] == [1, 2, 3]
    assert [(r["start"], r["end"]) for r in got] == [(1.234, 3.456), (4.0, 5.005), (6.1, 7.9)]
    assert [r["text"] for r in got] == ["こんにちは、元気?", "Room 101はどこ?", "2024"]
    # raw text: as written, markup removed, the cue's line break kept
    assert got[0]["raw_text"] == "こんにちは、\n元気？"
    assert all(r["source"] == "subtitles" for r in got)
    assert report.encoding == "utf-8-sig" and report.format == "srt"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "cp932", "euc_jp", "utf-8"])
def test_common_encodings_decode_to_the_same_text(tmp_path, encoding):
    text = "1\n00:00:01,000 --> 00:00:02,000\n今日は３月１０日、ＡＢＣです。\n\n"
    path = tmp_path / "ep.srt"
    path.write_bytes(text.encode(encoding))
    table, _ = transcript_from_subtitles(path, 10.0, TranscriptFilters())
    # digits and case as written (full-width normalised to ASCII, not replaced by 0 or lower-cased)
    assert rows(table)[0]["text"] == "今日は3月10日、ABCです。"


def test_ass_override_tags_comments_and_line_breaks(tmp_path):
    ass = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:02.50,0:00:04.00,Default,Sakura,0,0,0,,{\\pos(10,10)\\b1}待って\\Nください！
Comment: 0,0:00:03.00,0:00:05.00,Default,,0,0,0,,translator note
Dialogue: 0,0:00:01.00,0:00:02.00,Default,Haruto,0,0,0,,{\\i1}おい{\\i0}
"""
    path = tmp_path / "ep.ass"
    path.write_text(ass, encoding="utf-8")
    got = rows(transcript_from_subtitles(path, 10.0, TranscriptFilters())[0])
    assert [(r["start"], r["end"], r["text"], r["actor"]) for r in got] == [
        (1.0, 2.0, "おい", "Haruto"),  # sorted by start time
        (2.5, 4.0, "待ってください!", "Sakura"),
    ]


def test_webvtt_cue_identifiers_notes_and_settings_are_not_text(tmp_path):
    vtt = ("WEBVTT\n\nNOTE written by hand\n\ncue-1\n00:00:01.000 --> 00:00:02.000\nはじめ\n\n"
           "cue-2\n00:00:03.000 --> 00:00:04.500 align:start line:0\n<v Mei>つぎ</v>\n\n3\n00:05.000 --> 00:06.000\nおわり\n")
    path = tmp_path / "ep.vtt"
    path.write_text(vtt, encoding="utf-8")
    got = rows(transcript_from_subtitles(path, 10.0, TranscriptFilters())[0])
    assert [(r["start"], r["end"], r["raw_text"], r["cue"]) for r in got] == [
        (1.0, 2.0, "はじめ", 1), (3.0, 4.5, "つぎ", 2), (5.0, 6.0, "おわり", 3)]


def test_webvtt(tmp_path):
    vtt = "WEBVTT\n\n00:00:01.500 --> 00:00:02.750 align:start\n<v Mei>やった！</v>\n\n00:03.000 --> 00:04.000\nまたね\n"
    path = tmp_path / "ep.vtt"
    path.write_text(vtt, encoding="utf-8")
    got = rows(transcript_from_subtitles(path, 10.0, TranscriptFilters())[0])
    assert [(r["start"], r["end"], r["text"]) for r in got] == [(1.5, 2.75, "やった!"), (3.0, 4.0, "またね")]


def test_overlapping_and_digit_only_cues_are_kept_and_counted(tmp_path):
    srt = (
        "1\n00:00:01,000 --> 00:00:03,000\nA\n\n"
        "2\n00:00:02,000 --> 00:00:04,000\n123\n\n"
        "3\n00:00:05,000 --> 00:00:05,100\nshort\n\n"
        "4\n00:00:06,000 --> 00:00:07,000\n<i> </i>\n\n"
    )
    path = tmp_path / "ep.srt"
    path.write_text(srt, encoding="utf-8")
    table, report = transcript_from_subtitles(path, 10.0, TranscriptFilters(min_duration=0.2))
    assert [r["text"] for r in rows(table)] == ["A", "123"]
    assert (report.overlapping, report.dropped_short, report.dropped_empty) == (1, 1, 1)
    table, _ = transcript_from_subtitles(path, 10.0, TranscriptFilters(min_duration=0.0))
    assert [r["text"] for r in rows(table)] == ["A", "123", "short"]


def test_cues_outside_the_audio_are_clipped_or_dropped_with_warnings(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:06,000\nlong\n\n2\n00:00:07,000 --> 00:00:08,000\nafter\n\n"
    path = tmp_path / "ep.srt"
    path.write_text(srt, encoding="utf-8")
    table, report = transcript_from_subtitles(path, 5.0, TranscriptFilters())
    assert [(r["start"], r["end"]) for r in rows(table)] == [(1.0, 5.0)]
    assert report.clipped_to_audio == 1 and report.dropped_outside_audio == 1
    assert len(report.warnings) == 2


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"1\n00:00:05,000 --> 00:00:04,000\nback\n\n", "cue 1 ends before it starts"),
        (b"just some text without any cue", "no subtitle cues"),
        # a malformed timing line used to be glued, with its cue number, onto the previous line's text
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,00 --> 00:0004,500\nbad\n\n", "line 6: malformed cue timing '00:00:03,00 --> 00:0004,500'"),
    ],
)
def test_bad_files_raise_errors_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "broken.srt"
    path.write_bytes(content)
    with pytest.raises(TextFileError) as err:  # SubtitleError is a TextFileError
        read_cues(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_clean_text_keeps_digits_case_and_drops_emoji():
    assert clean_text("OK！ 3DSで\nＴＶを😀見た") == "OK! 3DSでTVを見た"
    assert clean_text("Hello\nWorld") == "Hello World"
