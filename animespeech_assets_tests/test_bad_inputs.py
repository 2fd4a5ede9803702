"""Bad inputs through the CLI, as a user meets them: each gives exit status 1 and a last line that names
the file and what is wrong, with no Python traceback; the failed asset leaves no file and no lineage
record, no temporary file is left, and the human's files are byte-identical afterwards. Odd but valid
inputs (encodings, tag-heavy ASS, WebVTT voices, odd file names) give the right lines."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.demo.generate import mux

from .conftest import tone_track, write_tone_episode

SRT = "1\n00:00:01,000 --> 00:00:02,000\nはじめ\n\n2\n00:00:03,000 --> 00:00:04,500\nつぎ\n\n"
LINES = ["はじめ", "つぎ"]
AUDIO = "episode_audio"
TEXT = "episode_audio,transcript"
PREDICT = "character_predictions"  # its run builds the reference set first, which reads every annotation file


@dataclass(frozen=True)
class Bad:
    id: str
    setup: Callable[[DataLayout], None]  # writes the human's files
    select: str  # what is materialized
    failed: str  # the asset that must leave nothing
    error: tuple[str, ...]  # fragments of the last line of stderr (the file's name and what is wrong)
    episode: str = "ep01"
    command: tuple[str, ...] = ()  # instead of materialize (then no asset is checked)


def media(data: bytes | Callable[[Path], None], name: str = "ep01.mkv") -> Callable[[DataLayout], None]:
    def setup(layout):
        path = layout.inputs / name
        if callable(data):
            data(path)
        else:
            path.write_bytes(data)
        (layout.inputs / f"{Path(name).stem}.srt").write_text(SRT, encoding="utf-8")
    return setup


def truncated(path: Path) -> None:
    mux(path, tone_track(6.0, [(1.0, 2.0, 440.0)]), [0.0])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def video_only(path: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=black:s=64x64:d=3", "-c:v", "libx264", str(path)], check=True)


def silent(path: Path) -> None:
    mux(path, np.zeros((6 * 48_000, 2), np.float32), [0.0])


def unknown_codec(path: Path) -> None:
    """An MKV whose audio track's codec is one FFmpeg has no decoder for (the codec id patched)."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=6", "-c:a", "pcm_s16le", str(path)], check=True)
    data = path.read_bytes()
    assert data.count(b"A_PCM/INT/LIT") == 1
    path.write_bytes(data.replace(b"A_PCM/INT/LIT", b"A_XYZ/UNKNOWN"))


def settings(text: str) -> Callable[[DataLayout], None]:
    def setup(layout):
        write_tone_episode(layout, "ep01")
        (layout.inputs / "ep01.episode.json").write_text(text, encoding="utf-8")
    return setup


def subtitles(data: bytes | str, name: str = "ep01.srt") -> Callable[[DataLayout], None]:
    def setup(layout):
        write_tone_episode(layout, "ep01")
        (layout.inputs / "ep01.srt").unlink()
        raw = data.encode("utf-8") if isinstance(data, str) else data
        (layout.inputs / name).write_bytes(raw)
    return setup


def annotations(text: str) -> Callable[[DataLayout], None]:
    def setup(layout):
        write_tone_episode(layout, "ep01")
        layout.annotation_file("ep01").write_text(text, encoding="utf-8")
    return setup


def files(*names: str) -> Callable[[DataLayout], None]:
    def setup(layout):
        write_tone_episode(layout, "tone")
        for name in names:
            shutil.copyfile(layout.inputs / "tone.mkv", layout.inputs / name)
    return setup


def dangling(layout):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep01.mkv").unlink()
    (layout.inputs / "ep01.mkv").symlink_to(layout.root.parent / "moved_away.mkv")


MANY_ROWS = "start,end,character\n" + "".join(f"{100 + i}.0,{100.5 + i},A\n" for i in range(300_000))  # ~5 MB
assert len(MANY_ROWS) > 5_000_000

BAD = [
    # media
    Bad("zero-byte-media", media(b""), AUDIO, AUDIO, ("ep01.mkv", "the file is empty")),
    Bad("truncated-media", media(truncated), AUDIO, AUDIO, ("ep01.mkv", "truncated")),
    Bad("random-bytes-media", media(random.Random(1).randbytes(100_000)), AUDIO, AUDIO, ("ep01.mkv", "cannot open as a media file")),
    Bad("no-audio-stream", media(video_only), AUDIO, AUDIO, ("ep01.mkv", "no audio stream")),
    Bad("silent-audio", media(silent), AUDIO, AUDIO, ("ep01.mkv", "is silent (no sample above -80 dBFS in 6.0 s)")),
    Bad("unknown-audio-codec", media(unknown_codec), AUDIO, AUDIO, ("ep01.mkv", "audio stream #0 is in a codec this FFmpeg build has no decoder for")),
    Bad("settings-not-json", settings("{audio: 1"), AUDIO, AUDIO, ("ep01.episode.json", "not a readable JSON object")),
    Bad("settings-missing-track", settings('{"audio": 7}'), AUDIO, AUDIO, ("ep01.episode.json", "'audio': 7 is not an audio stream")),
    Bad("settings-unknown-key", settings('{"audio_trak": 1}'), AUDIO, AUDIO, ("ep01.episode.json", "audio_trak")),
    # subtitles
    Bad("empty-subtitles", subtitles(""), TEXT, "transcript", ("ep01.srt", "the file is empty")),
    Bad("binary-subtitles", subtitles(random.Random(2).randbytes(5000)), TEXT, "transcript", ("ep01.srt", "binary, not a text file")),
    Bad("no-cues", subtitles("これは字幕ではありません。\nただのメモです。\n"), TEXT, "transcript", ("ep01.srt", "no subtitle cues")),
    Bad("malformed-timestamp", subtitles(SRT + "3\n00:00:05,00 --> 00:0005,500\nだめ\n\n"), TEXT, "transcript",
        ("ep01.srt", "line 10: malformed cue timing")),
    Bad("end-before-start", subtitles("1\n00:00:05,000 --> 00:00:04,000\nback\n\n"), TEXT, "transcript", ("ep01.srt", "cue 1 ends before it starts")),
    Bad("negative-time", subtitles("1\n-00:00:01,000 --> 00:00:02,000\nまえ\n\n"), TEXT, "transcript", ("ep01.srt", "line 2")),
    Bad("all-cues-past-the-audio", subtitles("1\n00:10:00,000 --> 00:10:02,000\nおそい\n\n"), TEXT, "transcript",
        ("ep01.srt", "none of its 1 dialogue cues is usable speech: 1 start after the audio ends (6.0 s)")),
    Bad("mixed-encodings", subtitles(SRT.encode("utf-8") + "3\n00:00:05,000 --> 00:00:05,500\nさいご\n\n".encode("cp932")), TEXT, "transcript",
        ("ep01.srt", "line 11", "not UTF-8")),
    Bad("tags-only", subtitles("1\n00:00:01,000 --> 00:00:02,000\n<i></i>{\\an8}\n\n2\n00:00:03,000 --> 00:00:04,000\n<font color=red></font>\n\n"),
        TEXT, "transcript", ("ep01.srt", "2 have no text once tags and symbols are removed")),
    Bad("ass-without-events", subtitles("[Script Info]\nTitle: x\n\n[V4+ Styles]\nFormat: Name\nStyle: Default\n", "ep01.ass"), TEXT, "transcript",
        ("ep01.ass", "no subtitle cues")),
    Bad("two-subtitle-files", lambda lay: (write_tone_episode(lay, "ep01"), (lay.inputs / "ep01.vtt").write_text("WEBVTT\n", encoding="utf-8")),
        TEXT, "transcript", ("ep01.mkv: several subtitle files match, keep one", "ep01.vtt")),
    # file names
    Bad("dot-dot-key", files(), AUDIO, AUDIO, ("'../ep01' is not a valid episode key",), episode="../ep01"),
    Bad("two-names-one-key", files("ep 02.mkv", "ep_02.mkv"), AUDIO, AUDIO, ("ep_02.mkv both map to episode key 'ep_02'",), episode="ep_02"),
    Bad("no-usable-key", files("!!!.mkv"), AUDIO, "", ("!!!.mkv", "leaves no usable episode key"), command=("scan",)),
    Bad("dangling-symlink", dangling, AUDIO, AUDIO, ("ep01.mkv", "broken symbolic link")),
    Bad("unknown-episode", files(), AUDIO, AUDIO, ("no media file for episode 'ep09'",), episode="ep09"),
    # annotations
    Bad("annotations-no-character-column", annotations("line_id,who\n1,A\n"), PREDICT, PREDICT, ("ep01.csv", "'who'")),
    Bad("annotations-unknown-column", annotations("line_id,character,mood\n1,A,happy\n"), PREDICT, PREDICT,
        ("ep01.csv", "unknown column(s) ['mood']")),
    Bad("annotations-missing-columns", annotations("character\nA\n"), PREDICT, PREDICT, ("ep01.csv", "line_id")),
    Bad("annotations-non-numeric-time", annotations("start,end,character\n1.0,two,A\n"), PREDICT, PREDICT,
        ("ep01.csv", "row 2", "'two'")),
    Bad("annotations-end-before-start", annotations("start,end,character\n2.0,1.0,A\n"), PREDICT, PREDICT,
        ("ep01.csv", "row 2", "not after start")),
    Bad("annotations-match-no-line", annotations("start,end,character\n1.0,2.0,A\n50.0,51.0,B\n"), PREDICT, PREDICT,
        ("ep01.csv", "1 row(s) match no transcript line", "row 3")),
    Bad("annotations-two-characters-one-line", annotations("line_id,character\n1,A\n1,B\n"), PREDICT, PREDICT,
        ("ep01.csv", "line 1 is labelled 'A' (row 2) and 'B' (row 3)")),
    Bad("annotations-dot-dot-character", annotations("line_id,character\n1,..\n"), PREDICT, PREDICT,
        ("ep01.csv", "row 2", "'..'")),
    Bad("annotations-5-mb-of-rows", annotations(MANY_ROWS), PREDICT, PREDICT, ("ep01.csv", "300000 row(s) match no transcript line")),
    Bad("annotations-binary", lambda lay: (write_tone_episode(lay, "ep01"), lay.annotation_file("ep01").write_bytes(random.Random(3).randbytes(3000))),
        PREDICT, PREDICT, ("ep01.csv", "binary, not a text file")),
]


def human_files(layout: DataLayout) -> dict[Path, bytes]:
    found = {}
    for folder in (layout.inputs, layout.annotations):
        for p in folder.rglob("*"):
            if p.is_file():
                found[p] = p.read_bytes()
            elif p.is_symlink():
                found[p] = os.readlink(p).encode()
    return found


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_a_bad_input_fails_clearly_and_leaves_nothing(case: Bad, layout, capsys):
    case.setup(layout)
    before = human_files(layout)
    rc = main(list(case.command) or ["materialize", "--episode", case.episode, "--select", case.select])
    err = capsys.readouterr().err
    assert rc == 1, err[-3000:]
    assert "Traceback (most recent call last)" not in err
    last = err.strip().splitlines()[-1]
    for fragment in case.error:
        assert fragment in last, f"{fragment!r} not in the last line: {last!r}"
    if case.failed and ".." not in case.episode:
        assert not layout.output(case.failed, case.episode).exists()
        assert Ledger(layout.lineage).latest(case.failed, case.episode) is None
    assert [p for p in layout.root.rglob("*") if p.name.endswith(".tmp")] == []
    assert human_files(layout) == before


def assert_lines(layout: DataLayout, episode: str, expected: list[str]) -> None:
    assert main(["materialize", "--episode", episode, "--select", TEXT]) == 0
    assert pq.read_table(layout.output("transcript", episode)).column("text").to_pylist() == expected


@pytest.mark.parametrize("encoding", ["cp932", "euc_jp", "utf-16", "utf-8-sig"])
def test_japanese_subtitles_in_any_common_encoding_give_the_right_lines(encoding, layout):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep01.srt").write_bytes(SRT.replace("\n", "\r\n").encode(encoding))
    assert_lines(layout, "ep01", LINES)


def test_ass_with_override_and_karaoke_tags_gives_the_spoken_text_and_sets_the_song_aside(layout):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep01.srt").unlink()
    (layout.inputs / "ep01.ass").write_text(
        "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\nStyle: OP,Arial,20\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\\an8\\c&H00FF00&\\b1}はじ{\\i1}め{\\i0}\n"
        "Dialogue: 0,0:00:03.00,0:00:04.50,Default,,0,0,0,,{\\fad(200,200)}つ{\\fs30}ぎ\n"
        "Dialogue: 0,0:00:03.00,0:00:04.50,OP,,0,0,0,,{\\k20}あ{\\k30}お{\\kf40}ぞら\n", encoding="utf-8")
    assert_lines(layout, "ep01", LINES)
    dropped = pq.read_table(layout.asset_file("transcript", "ep01", ".dropped.parquet")).to_pylist()
    assert [(d["start"], d["reason"]) for d in dropped] == [(3.0, "karaoke")]


def test_webvtt_with_voice_tags_and_cue_settings_gives_the_spoken_text(layout):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep01.srt").unlink()
    (layout.inputs / "ep01.vtt").write_text(
        "WEBVTT\n\ncue-1\n00:00:01.000 --> 00:00:02.000 align:start position:10%\n<v Sakura>はじめ</v>\n\n"
        "cue-2\n00:00:03.000 --> 00:00:04.500 line:0\n<v.loud Haruto><b>つぎ</b>\n", encoding="utf-8")
    assert_lines(layout, "ep01", LINES)


def test_a_bom_in_the_middle_of_a_subtitle_file_is_not_text(layout):
    """Two files concatenated: the second one's BOM sits in the middle."""
    write_tone_episode(layout, "ep01")
    second = "2\n00:00:03,000 --> 00:00:04,500\nつぎ\n\n"
    (layout.inputs / "ep01.srt").write_bytes(SRT.split("2\n")[0].encode("utf-8-sig") + second.encode("utf-8-sig"))
    assert_lines(layout, "ep01", LINES)


@pytest.mark.parametrize("stem, key", [("My Show - 01 [1080p]", "My_Show_-_01_1080p"), ("進撃の巨人 第1話", "進撃の巨人_第1話")])
def test_file_names_with_spaces_and_japanese_become_readable_keys(stem, key, layout):
    write_tone_episode(layout, "tmp")
    (layout.inputs / "tmp.mkv").rename(layout.inputs / f"{stem}.mkv")
    (layout.inputs / "tmp.srt").rename(layout.inputs / f"{stem}.srt")
    assert_lines(layout, key, LINES)


def test_a_symlink_to_media_outside_the_data_folder_is_read_and_never_written(layout, tmp_path):
    """A library linked in (``ln -s /media/anime/ep01.mkv data/inputs/``): read through the link,
    nothing written outside data/."""
    library = tmp_path / "library"
    library.mkdir()
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep01.mkv").rename(library / "ep01.mkv")
    (layout.inputs / "ep01.mkv").symlink_to(library / "ep01.mkv")
    before = (library / "ep01.mkv").read_bytes()
    assert_lines(layout, "ep01", LINES)
    assert [p.name for p in library.iterdir()] == ["ep01.mkv"] and (library / "ep01.mkv").read_bytes() == before


def test_an_annotation_file_open_in_a_spreadsheet_is_read_once_it_is_closed(layout):
    """LibreOffice keeps `.~lock.<name>#` beside a file it has open (and a POSIX lock on it); a save in
    progress must not start a rebuild from a half-written file."""
    import fcntl

    import dagster as dg

    from animespeech_assets.defs.automation import annotations_sensor
    from animespeech_assets.defs.resources import DataResource

    write_tone_episode(layout, "ep01")
    path = layout.annotation_file("ep01")
    path.write_text("line_id,character\n1,A\n", encoding="utf-8")
    main(["scan"])
    instance = dg.DagsterInstance.get()
    context = dg.build_sensor_context(instance=instance, resources={"data": DataResource()})
    first = annotations_sensor(context)
    assert isinstance(first, dg.RunRequest) and first.tags["animespeech/changed_annotations"] == "ep01"
    cursor = context.cursor
    lock = path.with_name(f".~lock.{path.name}#")
    lock.write_text(",user,host,02.12.2026 10:00,file:///home/user/.config/libreoffice/4;", encoding="utf-8")
    with open(path, "r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)  # the spreadsheet's lock
        path.write_text("line_id,character\n1,A\n2,", encoding="utf-8")  # mid-save
        during = annotations_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"data": DataResource()}))
        assert isinstance(during, dg.SkipReason) and "ep01.csv is open in a spreadsheet (.~lock.ep01.csv#)" in during.skip_message
        path.write_text("line_id,character\n1,A\n2,B\n", encoding="utf-8")
    lock.unlink()
    after = annotations_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"data": DataResource()}))
    assert isinstance(after, dg.RunRequest) and after.tags["animespeech/changed_annotations"] == "ep01"
    assert path.read_text(encoding="utf-8") == "line_id,character\n1,A\n2,B\n"
