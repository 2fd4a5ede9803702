"""Release-style media files built the way releases are: FFmpeg muxing several audio tracks (FLAC,
or AAC in MP4) and subtitle tracks (ASS, SRT, WebVTT, mov_text, PGS) with languages, titles and
default flags into one MKV/MP4. scripts/test.sh installs FFmpeg."""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"

ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,64,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,3,0,2,40,40,40,1
Style: Sign-Station,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,8,40,40,40,1
Style: OP-Romaji,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,8,40,40,40,1
Style: ED,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,8,40,40,40,1
Style: TL Note,Arial,40,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,0,8,40,40,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def ass_time(t: float) -> str:
    cs = int(round(t * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def fansub_ass(dialogue: list[tuple[float, float, str, str]], duration: float) -> str:
    """An ASS file as fansubs write them: the dialogue (start, end, speaker, text) with override tags,
    and around it signs, OP karaoke, an ED song line, a ♪ line, a translator note, a drawing and a comment."""
    rows = []
    for start, end, name, text in dialogue:
        rows.append(f"Dialogue: 0,{ass_time(start)},{ass_time(end)},Default,{name},0,0,0,,{{\\blur0.6}}{text}")
    first, last = dialogue[0], dialogue[-1]
    mid = (first[0] + first[1]) / 2
    rows += [
        f"Dialogue: 1,{ass_time(first[0])},{ass_time(first[1])},Sign-Station,,0,0,0,,{{\\pos(960,120)\\fad(200,200)}}駅前",
        # a sign typeset in the dialogue style, placed over the dialogue
        f"Dialogue: 0,{ass_time(mid)},{ass_time(first[1])},Default,,0,0,0,,{{\\an8\\pos(400,300)}}本日休業",
        "Dialogue: 0,0:00:00.10,0:00:00.90,OP-Romaji,,0,0,0,,{\\k25}ki{\\k30}mi{\\k40}no",
        "Dialogue: 0,0:00:00.10,0:00:00.90,Default,,0,0,0,,{\\kf20}き{\\kf30}み",
        f"Dialogue: 0,{ass_time(duration - 0.9)},{ass_time(duration - 0.2)},ED,,0,0,0,,空に歌えば",
        f"Dialogue: 0,{ass_time(last[0])},{ass_time(last[1])},Default,,0,0,0,,{{\\an8}}♪～ 遠くへ ～♪",
        f"Dialogue: 0,{ass_time(last[0])},{ass_time(last[1])},TL Note,,0,0,0,,TL note: 駅前 means in front of the station",
        f"Dialogue: 0,{ass_time(first[0])},{ass_time(first[1])},Default,,0,0,0,,{{\\p1\\pos(0,0)}}m 0 0 l 100 0 100 100 l 0 100{{\\p0}}",
        f"Comment: 0,{ass_time(first[0])},{ass_time(first[1])},Default,,0,0,0,,timing checked",
    ]
    return ASS_HEADER + "\n".join(rows) + "\n"


def pgs_sup(path: Path, times: list[float]) -> Path:
    """A minimal PGS (.sup) stream: a presentation segment and an end segment per display time."""
    def segment(pts: int, kind: int, data: bytes) -> bytes:
        return b"PG" + struct.pack(">IIBH", pts, 0, kind, len(data)) + data

    pcs = struct.pack(">HHBHBBBB", 1920, 1080, 0x10, 0, 0x80, 0, 0, 0)
    path.write_bytes(b"".join(segment(int(t * 90000), 0x16, pcs) + segment(int(t * 90000), 0x80, b"") for t in times))
    return path


@dataclass
class AudioTrack:
    samples: np.ndarray  # mono or (n, channels) float32
    sample_rate: int
    language: str
    title: str = ""
    default: bool = False


@dataclass
class SubtitleTrack:
    file: Path  # .ass / .srt / .vtt / .sup
    codec: str  # ass, srt, webvtt, mov_text, copy
    language: str
    title: str = ""
    default: bool = False


def make_release(path: Path, audio: list[AudioTrack], subtitles: list[SubtitleTrack] = (), audio_codec: str = "flac") -> Path:
    """Mux the tracks into ``path`` (MKV or MP4) with FFmpeg, in the order given."""
    work = path.parent / f".{path.stem}.tracks"
    work.mkdir(exist_ok=True)
    cmd = [FFMPEG, "-loglevel", "error", "-y"]
    for i, a in enumerate(audio):
        wav = work / f"a{i}.wav"
        sf.write(wav, a.samples, a.sample_rate, subtype="PCM_16")
        cmd += ["-i", str(wav)]
    for s in subtitles:
        cmd += ["-i", str(s.file)]
    for i in range(len(audio) + len(subtitles)):
        cmd += ["-map", str(i)]
    cmd += ["-c:a", audio_codec]
    for i, a in enumerate(audio):
        cmd += [f"-metadata:s:a:{i}", f"language={a.language}", f"-disposition:a:{i}", "default" if a.default else "0"]
        if a.title:
            cmd += [f"-metadata:s:a:{i}", f"title={a.title}"]
    for i, s in enumerate(subtitles):
        cmd += [f"-c:s:{i}", s.codec, f"-metadata:s:s:{i}", f"language={s.language}",
                f"-disposition:s:{i}", "default" if s.default else "0"]
        if s.title:
            cmd += [f"-metadata:s:s:{i}", f"title={s.title}"]
    subprocess.run(cmd + [str(path)], check=True)
    shutil.rmtree(work)
    return path


def tone(seconds: float, bursts: list[tuple[float, float]], freq: float, sr: int = 48_000) -> np.ndarray:
    """Silence with sine bursts (start, end) at ``freq``: a stand-in for one language's speech."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for start, end in bursts:
        on = (t >= start) & (t < end)
        out[on] = 0.4 * np.sin(2 * np.pi * freq * t[on])
    return out.astype(np.float32)


def dominant_frequency(samples: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[int(np.argmax(spectrum))])
