"""Speaker identification on real recordings, per encoder: the figures a user can trust.

On ../shared/eval: the AMI meetings (RTTM turns) and the constructed Japanese multi-speaker file.
Turns are *clean*: the parts of each turn no other speaker overlaps, 1 s or more (what a subtitle
line of one person is; `benchmarks/speaker_id.py` keeps every turn, many under a second and overlapped, which is
why its AMI figure is low). For each encoder:

- KNN (1-NN, cosine) accuracy and macro-F1 with N = 2, 5, 10, 30 labelled turns per speaker (the
  first N of each speaker; the rest predicted), AMI pooled over every recording (a speaker is one
  AMI id across pyannote's excerpts) and per recording (mean);
- EER over same/different-speaker pairs of clean turns within a recording;
- the project's own labelling protocol on the clean turns (per-class KNN, thresholds from the
  leave-one-out suggestion), coverage and precision of ``certain``, N = 2;
- the same with a synthetic music bed (`demo/music.py`) mixed 20, 10 and 5 dB under the speech;
- the Japanese file: one labelled line per speaker, every other line predicted;
- speed (seconds of speech per second) and the process's peak memory.

    .venv/bin/python -m benchmarks.speaker_real [--backend resemblyzer] [--model ...]

Results in benchmarks/results/speaker_real.<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from animespeech_assets.backends.speaker import load_speaker_encoder
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio
from animespeech_assets.demo.music import with_music
from animespeech_assets.speakers import evaluation, knn
from animespeech_assets.speakers.embeddings import embed_lines, vectors_of
from benchmarks.embedding_throughput import peak_rss_mib
from benchmarks.speaker_id import EVAL, RESULTS, ROOT, ami_recordings, lines_table, read_rttm, score, summarise

LABELS = (2, 5, 10, 30)
MIN_TURN = 1.0


def clean_turns(turns, min_seconds: float = MIN_TURN):
    """The parts of each turn that no other speaker's turn overlaps, where they last ``min_seconds``
    or more (AMI's turns overlap at their edges almost always; the middle is one voice)."""
    out = []
    for s, e, spk in turns:
        pieces = [(s, e)]
        for os_, oe, ospk in turns:
            if ospk == spk:
                continue
            pieces = [q for a, b in pieces for q in ((a, min(b, os_)), (max(a, oe), b)) if q[1] > q[0]]
        out.extend((a, b, spk) for a, b in pieces if b - a >= min_seconds)
    return sorted(out)


def embed(encoder, wav: Path, turns, music_snr: float | None = None) -> tuple[np.ndarray, list[str], float, float]:
    """(vectors, speakers) of the turns that got a vector, the speech seconds and the seconds it took;
    with ``music_snr``, the music bed mixed under the recording that many dB below its speech."""
    audio, _ = decode_audio(wav)
    if music_snr is not None:
        audio = with_music(audio, ANALYSIS_SAMPLE_RATE, music_snr, [(s, e) for s, e, _ in turns])
    start = time.perf_counter()
    table = embed_lines(audio, ANALYSIS_SAMPLE_RATE, lines_table(turns), encoder)
    took = time.perf_counter() - start
    valid, matrix = vectors_of(table)
    return matrix, [t[2] for t, v in zip(turns, valid) if v], sum(e - s for s, e, _ in turns), took


def first_n(speakers: list[str], n: int) -> list[bool]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for s in speakers:
        out.append(seen[s] < n)
        seen[s] += 1
    return out


def one_nn(vectors: np.ndarray, speakers: list[str], n: int) -> tuple[list[str], list[str]]:
    """(truth, predicted) of the turns left after labelling the first ``n`` of each speaker."""
    labelled = first_n(speakers, n)
    ref_idx = [i for i, lab in enumerate(labelled) if lab]
    test_idx = [i for i, lab in enumerate(labelled) if not lab]
    if not test_idx:
        return [], []
    nearest = np.argmax(vectors[test_idx] @ vectors[ref_idx].T, axis=1)
    return [speakers[i] for i in test_idx], [speakers[ref_idx[j]] for j in nearest]


def accuracy(truth, pred) -> dict:
    if not truth:
        return {"lines": 0, "accuracy": None, "macro_f1": None}
    return {"lines": len(truth), "accuracy": float(np.mean([t == p for t, p in zip(truth, pred)])),
            "macro_f1": evaluation.macro_f1(truth, pred)}


def eer(same: list[float], different: list[float]) -> float | None:
    """Equal error rate of cosine similarities: same-speaker pairs above, different below a threshold."""
    if not same or not different:
        return None
    same_a, diff_a = np.sort(same), np.sort(different)
    best = (2.0, 1.0)
    for t in np.unique(np.concatenate([same_a, diff_a])):
        miss = np.searchsorted(same_a, t, side="left") / len(same_a)  # same pairs below t
        false = 1 - np.searchsorted(diff_a, t, side="left") / len(diff_a)  # different pairs at or above t
        if abs(miss - false) < best[0]:
            best = (abs(miss - false), (miss + false) / 2)
    return float(best[1])


def ami_embeddings(encoder, music_snr: float | None = None):
    """[(recording, vectors, speakers)] of the clean turns, the speech seconds and the seconds it took."""
    speech = seconds = 0.0
    recordings = []
    for name, wav, turns in ami_recordings():
        vectors, speakers, s, took = embed(encoder, wav, clean_turns(turns), music_snr)
        speech, seconds = speech + s, seconds + took
        # pyannote's debug excerpts name speakers by their AMI id (one person across excerpts); the
        # other two files name them per file
        global_ids = name.startswith("ami-pyannote-debug/")
        recordings.append((name, vectors, [spk if global_ids else f"{name}:{spk}" for spk in speakers]))
    return recordings, speech, seconds


def pooled(recordings, n: int) -> dict:
    return accuracy(*one_nn(np.concatenate([v for _, v, _ in recordings]), [s for _, _, sp in recordings for s in sp], n))


def within_recording_eer(recordings) -> tuple[float | None, dict]:
    same, different = [], []
    for _, v, sp in recordings:
        sims = v @ v.T
        for i in range(len(sp)):
            for j in range(i + 1, len(sp)):
                (same if sp[i] == sp[j] else different).append(float(sims[i, j]))
    return eer(same, different), {"same": len(same), "different": len(different)}


def project_protocol(name: str, vectors: np.ndarray, speakers: list[str], n: int) -> dict:
    labelled = first_n(speakers, n)
    lab_idx = [i for i, lab in enumerate(labelled) if lab]
    ref = knn.Reference(vectors[lab_idx], np.asarray([speakers[i] for i in lab_idx], dtype=object),
                        np.asarray([name] * len(lab_idx), dtype=object), np.asarray(lab_idx))
    valid = np.ones(len(speakers), bool)
    return score(name, ref, speakers, valid, vectors, np.arange(len(speakers)), [i for i, lab in enumerate(labelled) if not lab])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="resemblyzer")
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (CAM++)")
    ap.add_argument("--music-snr", type=lambda v: [float(x) for x in v.split(",") if x], default=[20.0, 10.0, 5.0],
                    help="also with the synthetic music bed this many dB under the speech (comma-separated; empty: skip)")
    args = ap.parse_args()
    encoder = load_speaker_encoder(args.backend, args.model, args.device, None, args.precision)
    encoder.embed([np.zeros(16000, np.float32) + 0.01])  # warm-up, outside the timing
    recordings, speech, seconds = ami_embeddings(encoder)
    report: dict = {"backend": args.backend, "model": encoder.model_id, "min_turn_seconds": MIN_TURN,
                    "ami_recordings": len(recordings), "ami_speakers": len({s for _, _, sp in recordings for s in sp}),
                    "ami_clean_turns": sum(len(sp) for _, _, sp in recordings)}
    report["ami_pooled_1nn"] = {n: pooled(recordings, n) for n in LABELS}
    per_rec = {}
    for n in LABELS:
        accs = [accuracy(*one_nn(v, sp, n)) for _, v, sp in recordings]
        scored = [a for a in accs if a["lines"]]
        per_rec[n] = {"recordings": len(scored), "mean_accuracy": float(np.mean([a["accuracy"] for a in scored])) if scored else None,
                      "lines": sum(a["lines"] for a in scored)}
    report["ami_per_recording_1nn"] = per_rec
    report["ami_eer_within_recording"], report["ami_pairs"] = within_recording_eer(recordings)
    report["ami_project_protocol_2_labels"] = summarise([project_protocol(n, v, sp, 2) for n, v, sp in recordings])
    report["ami_with_music"] = {}
    for snr in args.music_snr:
        noisy, _, _ = ami_embeddings(encoder, snr)
        report["ami_with_music"][snr] = {"pooled_1nn_2_labels": pooled(noisy, 2), "eer_within_recording": within_recording_eer(noisy)[0]}

    ja = EVAL / "ja-constructed-multispk"
    ja_turns = read_rttm(ja / "ja_multispk.rttm")
    vectors, speakers, s, took = embed(encoder, ja / "ja_multispk.wav", ja_turns)
    speech, seconds = speech + s, seconds + took
    report["ja_multispk_1_label"] = accuracy(*one_nn(vectors, speakers, 1)) | {"speakers": len(set(speakers))}
    report["speed_speech_seconds_per_second"] = round(speech / seconds, 1)
    report["peak_rss_mib"] = peak_rss_mib()

    print(f"speaker identification on real speech with {encoder.model_id} (clean turns: >= {MIN_TURN:g} s, no overlap)")
    print(f"AMI: {report['ami_recordings']} recordings, {report['ami_speakers']} speakers, {report['ami_clean_turns']} clean turns")
    for n in LABELS:
        p, r = report["ami_pooled_1nn"][n], per_rec[n]
        fmt = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
        print(f"  N={n:<2} pooled 1-NN accuracy {fmt(p['accuracy'])} macro-F1 {fmt(p['macro_f1'])} ({p['lines']} lines); "
              f"per recording {fmt(r['mean_accuracy'])} ({r['recordings']} recordings)")
    pp = report["ami_project_protocol_2_labels"]
    print(f"  EER within a recording {report['ami_eer_within_recording']:.3f}; project protocol, 2 labels: accuracy "
          f"{pp['accuracy']:.3f}, certain {pp['certain_share']:.3f} at precision {pp['certain_precision'] if pp['certain_precision'] is not None else float('nan'):.3f}")
    ja_r = report["ja_multispk_1_label"]
    print(f"Japanese multi-speaker file, 1 label per speaker: {ja_r['accuracy']:.3f} of {ja_r['lines']} lines ({ja_r['speakers']} speakers)")
    for snr, r in report["ami_with_music"].items():
        print(f"  with music {snr:g} dB under the speech: pooled 1-NN (N=2) {r['pooled_1nn_2_labels']['accuracy']:.3f}, "
              f"macro-F1 {r['pooled_1nn_2_labels']['macro_f1']:.3f}, EER {r['eer_within_recording']:.3f}")
    print(f"speed {report['speed_speech_seconds_per_second']}x real time, peak RSS {report['peak_rss_mib']:.0f} MiB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"speaker_real.{args.backend}{'' if args.precision == 'auto' else '.' + args.precision}.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
