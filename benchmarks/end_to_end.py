"""End to end as a user runs it: the CLI on a long episode against the older tool's method, in one run.

On a 24-minute episode (the demo scene looped, `benchmarks/long_episode.py`), each measured in a fresh
process, as a user starts it:

- **CLI**: `animespeech materialize --episode E --select episode_audio,transcript,speaker_embeddings,
  character_predictions --force`, with the per-asset breakdown read from the run's step events and
  the process's peak RSS;
- **older method** (the tool this project replaces): one `ffmpeg` process per subtitle line cutting
  a 16 kHz WAV, one Resemblyzer `preprocess_wav` + `embed_utterance` call per line, then each
  unlabelled line given its nearest labelled line's character;
- both again with one other CPU-bound process running (a busy machine: `--busy` processes that spin);
- with `--asr`, the CLI on the same episode without its subtitles (speech recognition);
- the floor under the CLI's embedding step: in a fresh process, on the decoded track and transcript the
  CLI just wrote, voice activity alone and the whole embedding call (voice activity, then the encoder
  over every voiced line), with no Dagster and no I/O; against a tenth of the older method's time
  (what a 10x end-to-end figure leaves for everything);
- how much two CPU-bound processes get done against one (the host's real parallelism: hosts differ).

Prints every figure and the ratios; results in `benchmarks/results/end_to_end.json`.
Run: `python -m benchmarks.end_to_end [--minutes 24] [--asr] [--work DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

import numpy as np

from benchmarks.embedding_throughput import in_fresh_process
from benchmarks.long_episode import LONG_EPISODES, long_episode, peak_rss, use_work_folder

RESULTS = Path(__file__).parent / "results"
SELECT = "episode_audio,transcript,speaker_embeddings,character_predictions"
CLI = [sys.executable, "-m", "animespeech_assets.cli"]
HOG = [sys.executable, "-c", "while True: pass"]


def step_seconds(since: float) -> dict[str, float]:
    """Seconds each step took in the runs created after ``since`` (from their STEP_SUCCESS events)."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        steps: dict[str, float] = {}
        for run in instance.get_runs(filters=dg.RunsFilter(created_after=_utc(since))):
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
                event = record.dagster_event
                steps[event.step_key] = steps.get(event.step_key, 0.0) + event.event_specific_data.duration_ms / 1000
    return {k: round(v, 2) for k, v in steps.items()}


def _utc(ts: float):
    from datetime import datetime

    return datetime.fromtimestamp(ts, UTC)


def run_cli(episode: str) -> dict:
    since = time.time()
    rc, took, rss, err = peak_rss(CLI + ["materialize", "--episode", episode, "--select", SELECT, "--force"], dict(os.environ))
    if rc:
        raise SystemExit(f"the CLI failed on {episode}:\n{err}")
    return {"seconds": round(took, 2), "peak_rss_gb": round(rss / 2**30, 3), "steps": step_seconds(since)}


def run_older(layout, episode: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.end_to_end", "--older-method", str(layout.inputs / f"{episode}.mkv"),
           str(layout.inputs / f"{episode}.srt"), str(layout.annotation_file(episode))]
    rc, took, rss, err = peak_rss(cmd, dict(os.environ))
    if rc:
        raise SystemExit(f"the older method failed:\n{err}")
    return {"seconds": round(took, 2), "peak_rss_gb": round(rss / 2**30, 3)}


def older_method(media: Path, subtitles: Path, labels: Path) -> None:
    """The older tool's way, line by line: an ffmpeg process per line, a Resemblyzer call per line."""
    import csv

    import pysubs2
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu", verbose=False)
    cues = pysubs2.load(str(subtitles)).events
    with labels.open(encoding="utf-8") as f:
        labelled = {(round(float(r["start"]), 2), round(float(r["end"]), 2)): r["character"] for r in csv.DictReader(f)}
    vectors = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, cue in enumerate(cues):
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{cue.start / 1000:.3f}", "-to", f"{cue.end / 1000:.3f}",
                            "-i", str(media), "-vn", "-ac", "1", "-ar", "16000", str(wav)], check=True)
            vectors.append(encoder.embed_utterance(preprocess_wav(wav)))
    vectors = np.stack(vectors)
    keys = [(round(c.start / 1000, 2), round(c.end / 1000, 2)) for c in cues]
    ref = [i for i, k in enumerate(keys) if k in labelled]
    nearest = np.argmax(vectors @ vectors[ref].T, axis=1)
    predicted = [labelled[keys[ref[j]]] for j in nearest]
    print(f"{len(cues)} lines, {len(ref)} labelled, {len(set(predicted))} characters predicted")


def embedding_floor(audio: Path, transcript: Path) -> dict:
    """Seconds of the embedding step's computation alone, in this process: voice activity, then
    ``embed_lines`` (voice activity again, the voiced clips, the default encoder)."""
    import pyarrow.parquet as pq

    from animespeech_assets.backends.devices import ThreadBudget
    from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, load_audio
    from animespeech_assets.core.voice import speech_probabilities
    from animespeech_assets.defs.resources import SpeakerEncoderResource
    from animespeech_assets.speakers.embeddings import embed_lines

    samples, lines = np.asarray(load_audio(audio)), pq.read_table(transcript)
    t0 = time.perf_counter()
    encoder = SpeakerEncoderResource().load()
    embed_lines(samples[: ANALYSIS_SAMPLE_RATE * 30], ANALYSIS_SAMPLE_RATE, lines.slice(0, 8), encoder)  # warm-up
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadBudget() as budget:
        speech_probabilities(samples, ANALYSIS_SAMPLE_RATE, budget.threads)
    vad = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed_lines(samples, ANALYSIS_SAMPLE_RATE, lines, encoder)
    total = time.perf_counter() - t0
    return {"encoder": encoder.model_id, "precision": encoder.precision, "load_and_warmup_seconds": round(load, 2),
            "voice_activity_seconds": round(vad, 2), "embed_lines_seconds": round(total, 2),
            "encoder_seconds": round(total - vad, 2)}


def without_subtitles(layout, episode: str) -> str:
    """The same episode with no subtitle file next to it (so the transcript comes from recognition)."""
    name = f"{episode}_asr"
    target = layout.inputs / f"{name}.mkv"
    if not target.exists():
        os.link(layout.inputs / f"{episode}.mkv", target)
    return name


def two_core_factor(n: int = 5_000_000) -> float:
    """How much work two CPU-bound processes get done together against one alone (2.0: two full cores;
    about 1.3 where the two vCPUs share one physical core), so figures from different hosts compare."""
    spin = [sys.executable, "-c", f"s = 0\nfor i in range({n}): s += i"]

    def timed(count: int) -> float:
        t0 = time.perf_counter()
        procs = [subprocess.Popen(spin) for _ in range(count)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - t0

    return round(2 * min(timed(1) for _ in range(2)) / min(timed(2) for _ in range(2)), 2)


def measure(layout, episode: str, seconds: float, busy: int) -> dict:
    hogs = [subprocess.Popen(HOG) for _ in range(busy)]
    try:
        time.sleep(0.5 if busy else 0)
        cli, older = run_cli(episode), run_older(layout, episode)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    out = {"busy_processes": busy, "cli": cli, "older_method": older, "speedup": round(older["seconds"] / cli["seconds"], 2),
           "cli_x_real_time": round(seconds / cli["seconds"], 1)}
    label = "quiet machine" if not busy else f"{busy} other CPU-bound process{'es' if busy > 1 else ''}"
    print(f"{label}: CLI {cli['seconds']:.1f} s ({out['cli_x_real_time']}x real time, peak RSS {cli['peak_rss_gb']:.2f} GB), "
          f"older method {older['seconds']:.1f} s: {out['speedup']}x faster", flush=True)
    print("  steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in cli["steps"].items()), flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=24)
    p.add_argument("--busy", type=int, default=1, help="CPU-bound processes for the busy-machine run (0: skip it)")
    p.add_argument("--asr", action="store_true", help="also the CLI without subtitles (speech recognition)")
    p.add_argument("--work", type=Path, default=LONG_EPISODES)
    p.add_argument("--output", type=Path, default=RESULTS / "end_to_end.json")
    p.add_argument("--older-method", nargs=3, type=Path, metavar=("MEDIA", "SRT", "LABELS"), help=argparse.SUPPRESS)
    p.add_argument("--floor", nargs=2, type=Path, metavar=("AUDIO", "TRANSCRIPT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.older_method:
        older_method(*args.older_method)
        return 0
    if args.floor:
        use_work_folder(args.work)
        print(json.dumps(embedding_floor(*args.floor)))
        return 0

    layout = use_work_folder(args.work)
    episode, seconds = f"long{args.minutes:g}", args.minutes * 60
    long_episode(layout, episode, seconds)
    import pysubs2

    lines = len(pysubs2.load(str(layout.inputs / f"{episode}.srt")).events)
    cores = two_core_factor()
    print(f"{episode}: {args.minutes:g} minutes, {lines} subtitle lines; CPUs: {os.cpu_count()} "
          f"(two processes do {cores}x the work of one)", flush=True)
    run_cli(episode)  # warm the page cache and the instance (a user's second command, not a cold disk)
    runs = [measure(layout, episode, seconds, 0)]
    if args.busy:
        runs.append(measure(layout, episode, seconds, args.busy))
        quiet, loaded = runs[0]["cli"]["steps"], runs[1]["cli"]["steps"]
        runs[1]["step_slowdown"] = {k: round(loaded[k] / quiet[k], 2) for k in quiet if k in loaded and quiet[k] >= 0.2}
        print("  slowdown per step (busy / quiet): " + ", ".join(f"{k} {v}x" for k, v in runs[1]["step_slowdown"].items()))
    floor = in_fresh_process("benchmarks.end_to_end", "--work", str(args.work), "--floor",
                             str(layout.output("episode_audio", episode)), str(layout.output("transcript", episode)))
    floor["tenth_of_older_method_seconds"] = round(runs[0]["older_method"]["seconds"] / 10, 2)
    print(f"embedding floor ({floor['encoder']}, {floor['precision']}, no Dagster, no I/O): voice activity "
          f"{floor['voice_activity_seconds']:.2f} s + encoder {floor['encoder_seconds']:.2f} s; a tenth of the older method: "
          f"{floor['tenth_of_older_method_seconds']:.2f} s", flush=True)
    summary = {"episode_minutes": args.minutes, "subtitle_lines": lines, "cpus": os.cpu_count(), "two_process_throughput": cores,
               "select": SELECT, "runs": runs, "embedding_floor": floor}
    if args.asr:
        asr = run_cli(without_subtitles(layout, episode))
        asr["x_real_time"] = round(seconds / asr["seconds"], 1)
        summary["asr"] = asr
        print(f"without subtitles (recognition): CLI {asr['seconds']:.1f} s ({asr['x_real_time']}x real time), "
              "steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in asr["steps"].items()), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
