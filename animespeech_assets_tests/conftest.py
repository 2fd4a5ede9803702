import os
import socket
from pathlib import Path

import numpy as np
import pytest

from animespeech_assets.core import install_check
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.demo.generate import SAMPLE_RATE, mux


def pytest_sessionstart(session):
    """Fail the run in seconds, naming the package and the fix, when a compiled extension does not load."""
    problems = install_check.problems(extras=["test"])
    if problems:
        pytest.exit("install check failed:\n  " + "\n  ".join(problems), returncode=3)


SHARED = Path(__file__).resolve().parents[2] / "shared"
EVAL = Path(os.environ.get("ANIMESPEECH_EVAL_DIR", SHARED / "eval"))


def tone_track(seconds: float, bursts: list[tuple[float, float, float]], sr: int = SAMPLE_RATE) -> np.ndarray:
    """Stereo float32 (n, 2): silence with sine bursts (start, end, frequency)."""
    t = np.arange(int(seconds * sr)) / sr
    mono = np.zeros_like(t)
    for start, end, freq in bursts:
        on = (t >= start) & (t < end)
        mono[on] = 0.5 * np.sin(2 * np.pi * freq * t[on])
    return np.stack([mono, mono], axis=1).astype(np.float32)


@pytest.fixture
def layout(tmp_path, monkeypatch) -> DataLayout:
    """A fresh data root and Dagster home for one test."""
    monkeypatch.setenv("ANIMESPEECH_DATA_DIR", str(tmp_path / "data"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    lay = DataLayout.from_env()
    lay.inputs.mkdir(parents=True)
    lay.annotations.mkdir(parents=True)
    return lay


def spoken_track(seconds: float, words: list[tuple[float, str, str]], sr: int = SAMPLE_RATE) -> np.ndarray:
    """Stereo float32 (n, 2): silence with Kokoro speech (start, voice, text), for tests whose lines
    must hold speech (voice activity marks a tone ``no_speech``)."""
    from animespeech_assets.demo.generate import _speech

    mono = np.zeros(int(seconds * sr), np.float32)
    for start, voice, text in words:
        clip = _speech(text, voice, 1.0)[: len(mono) - int(start * sr)]
        mono[int(start * sr) : int(start * sr) + len(clip)] += 0.8 * clip
    return np.stack([mono, mono], axis=1)


def write_tone_episode(layout: DataLayout, key: str, seconds: float = 6.0, srt: str | None = None, spoken: bool = False) -> Path:
    """An MKV (H.264 + AAC) with tone bursts at 1-2 s and 3-4.5 s (``spoken``: two short words
    there, in two voices), plus an SRT for them."""
    if spoken:
        audio = spoken_track(seconds, [(1.1, "jf_alpha", "はじめ"), (3.2, "jm_kumo", "つぎです")])
    else:
        audio = tone_track(seconds, [(1.0, 2.0, 440.0), (3.0, 4.5, 660.0)])
    path = mux(layout.inputs / f"{key}.mkv", audio, [0.0])
    if srt is None:
        srt = "1\n00:00:01,000 --> 00:00:02,000\nはじめ\n\n2\n00:00:03,000 --> 00:00:04,500\nつぎ\n\n"
    (layout.inputs / f"{key}.srt").write_text(srt, encoding="utf-8")
    return path


@pytest.fixture
def two_episodes(layout):
    """Two small generated episodes spoken by the real Kokoro voices: ep1 (2 scenes, 24 lines,
    3 labels per character) and ep2 (1 scene, 12 lines, no labels)."""
    from animespeech_assets.demo.generate import generate_episode
    from animespeech_assets.demo.script import EPISODES

    generate_episode(layout, "ep1", EPISODES["demo_ep01"][:2], seed=1, labels=3)
    generate_episode(layout, "ep2", EPISODES["demo_ep02"][:1], seed=2)
    return layout


def truth(layout: DataLayout, episode: str) -> list[dict]:
    import csv

    with open(layout.demo / f"{episode}.truth.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for servers a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
