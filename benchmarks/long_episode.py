"""The long episodes the benchmarks share, and a fresh process's peak memory.

One generated demo scene (Kokoro voices, labels) looped with FFmpeg without re-encoding to any
length, its subtitles repeated at each loop's offset and its labels kept for the first loop; made
once and cached in the benchmark's work folder.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SEED_EPISODE = "seed"
LONG_EPISODES = PROJECT / "data" / "cache" / "benchmarks" / "long_episodes"  # the default work folder


def use_work_folder(work: Path):
    """Point the data root and the Dagster instance (with the project's ``dagster.yaml``) at ``work``;
    returns the DataLayout."""
    from animespeech_assets.core.environment import configure_caches
    from animespeech_assets.core.layout import DataLayout

    configure_caches(DataLayout(PROJECT / "data"))
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    os.environ.update({"ANIMESPEECH_DATA_DIR": str(work / "data"), "DAGSTER_HOME": str(home)})
    return DataLayout.from_env()


def seed_scene(layout) -> Path:
    """``inputs/seed.mkv`` (+ ``.srt`` and labels): two generated demo scenes, 93 s (made once)."""
    from animespeech_assets.demo.generate import generate_episode
    from animespeech_assets.demo.script import EPISODES

    src = layout.inputs / f"{SEED_EPISODE}.mkv"
    if not src.exists():
        print("generating the seed scene (Kokoro voices) ...", flush=True)
        generate_episode(layout, SEED_EPISODE, EPISODES["demo_ep01"][:2], seed=0, labels=3)
    return src


def long_episode(layout, name: str, seconds: float) -> None:
    """``inputs/<name>.mkv`` + ``.srt`` + annotations: the seed scene looped to ``seconds`` (cached)."""
    import av
    import pysubs2

    if (layout.inputs / f"{name}.mkv").exists():
        return
    src = seed_scene(layout)
    with av.open(str(src)) as container:
        period = container.duration / 1_000_000
    loops = math.ceil(seconds / period)
    seed = pysubs2.load(str(layout.inputs / f"{SEED_EPISODE}.srt"))
    long = pysubs2.SSAFile()
    for n in range(loops):
        for ev in seed.events:
            start, end = ev.start + int(n * period * 1000), ev.end + int(n * period * 1000)
            if end <= seconds * 1000:
                long.events.append(pysubs2.SSAEvent(start=start, end=end, text=ev.text))
    long.save(str(layout.inputs / f"{name}.srt"), format_="srt")
    shutil.copyfile(layout.annotation_file(SEED_EPISODE), layout.annotation_file(name))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(src), "-map", "0", "-c", "copy",
                    "-t", f"{seconds:.3f}", str(layout.inputs / f"{name}.mkv")], check=True)


def peak_rss(cmd: list[str], env: dict | None = None) -> tuple[int, float, int, str]:
    """(exit status, seconds, peak RSS in bytes, stderr tail) of ``cmd`` in a fresh process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - start, usage.ru_maxrss * 1024, err[-1500:]
