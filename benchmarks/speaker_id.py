"""Speaker identification accuracy: label a few lines per speaker, predict the rest.

Recordings: the demo episodes (labels on episode 1 only; episode 2 predicted from them) and the
AMI meetings in ../shared/eval (each speaker a character, RTTM turns as subtitle lines, the first
N turns of each speaker labelled). Prints a table and writes benchmarks/results/speaker_id.<backend>.json.

    .venv/bin/python -m benchmarks.speaker_id [--backend resemblyzer] [--model ...] [--labels 2]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from animespeech_assets.backends.speaker import load_speaker_encoder
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio
from animespeech_assets.core.environment import configure_caches
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.demo.music import with_music
from animespeech_assets.speakers import embeddings, evaluation, knn, predictions, references
from animespeech_assets.speakers.embeddings import embed_lines, vectors_of

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"


def read_rttm(path: Path, uri: str | None = None) -> list[tuple[float, float, str]]:
    turns = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER" and (uri is None or f[1] == uri):
            start, dur = float(f[3]), float(f[4])
            turns.append((start, start + dur, f[7]))
    return sorted(turns)


def ami_recordings() -> list[tuple[str, Path, list]]:
    recs = [
        ("ami-seriously/mixture", EVAL / "ami-seriously/mixture.wav", read_rttm(EVAL / "ami-seriously/mixture.rttm")),
        ("ami-en2002a/EN2002a_30s", EVAL / "ami-en2002a-diarizen/EN2002a_30s.wav",
         read_rttm(EVAL / "ami-en2002a-diarizen/EN2002a_30s.only_words.rttm")),
    ]
    debug = EVAL / "ami-pyannote-debug"
    for subset in ("train", "development", "test"):
        for uri in (debug / f"debug.{subset}.lst").read_text().split():
            recs.append((f"ami-pyannote-debug/{uri}", debug / f"{uri}.wav", read_rttm(debug / f"debug.{subset}.rttm", uri)))
    return [r for r in recs if r[1].exists() and r[2]]


def lines_table(turns) -> pa.Table:
    return pa.table({"line_id": pa.array(range(1, len(turns) + 1), pa.int32()),
                     "start": [t[0] for t in turns], "end": [t[1] for t in turns]})


def evaluate_recording(name, audio, turns, encoder, n_labels, ref_extra=None) -> dict:
    """Label the first ``n_labels`` turns of each speaker, predict the others."""
    emb = embed_lines(audio, ANALYSIS_SAMPLE_RATE, lines_table(turns), encoder)
    valid, matrix = vectors_of(emb)
    speakers = [t[2] for t in turns]
    seen: dict[str, int] = defaultdict(int)
    is_label = []
    for s, v in zip(speakers, valid):
        take = bool(v) and seen[s] < n_labels
        seen[s] += take
        is_label.append(take)
    rows = np.cumsum(valid) - 1
    lab_idx = [i for i, lab in enumerate(is_label) if lab]
    ref = knn.Reference(
        matrix[rows[lab_idx]], np.asarray([speakers[i] for i in lab_idx], dtype=object),
        np.asarray([name] * len(lab_idx), dtype=object), np.asarray(lab_idx),
    )
    if ref_extra is not None:
        ref = ref_extra
    return score(name, ref, speakers, valid, matrix, rows, [i for i, lab in enumerate(is_label) if not lab])


def score(name, ref, speakers, valid, matrix, rows, test_idx) -> dict:
    suggestion = evaluation.leave_one_out(ref)["suggested"]
    k, thresholds = predictions.settings(suggestion, None, None, None)
    truth, pred, status = [], [], []
    emb_idx = [i for i in test_idx if valid[i]]
    p = knn.predict(matrix[rows[emb_idx]], ref, k) if emb_idx else None
    by_i = {i: j for j, i in enumerate(emb_idx)}
    for i in test_idx:
        truth.append(speakers[i])
        if i in by_i:
            j = by_i[i]
            pred.append(p.character[j])
            status.append(knn.status_of(p.distance[j], p.margin[j], thresholds))
        else:
            pred.append(None)
            status.append("no_embedding")
    return {"recording": name, "truth": truth, "pred": pred, "status": status, "k": k, "certain_threshold": thresholds.certain,
            "certain_margin": thresholds.margin, "uncertain_threshold": thresholds.uncertain, "reference": len(ref.characters)}


def summarise(results: list[dict]) -> dict:
    truth = [t for r in results for t in r["truth"]]
    pred = [p for r in results for p in r["pred"]]
    status = [s for r in results for s in r["status"]]
    n = len(truth)
    correct = [t == p for t, p in zip(truth, pred)]
    certain = [c for c, s in zip(correct, status) if s == "certain"]
    return {
        "lines": n,
        "accuracy": float(np.mean(correct)) if n else None,
        "macro_f1": evaluation.macro_f1(truth, [p or "-" for p in pred]) if n else None,
        "certain_share": len(certain) / n if n else None,
        "certain_precision": float(np.mean(certain)) if certain else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="resemblyzer")
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="auto | float32 | bfloat16 (CAM++)")
    ap.add_argument("--labels", type=int, default=2, help="labelled turns per AMI speaker")
    ap.add_argument("--demo-labels", type=int, default=None,
                    help="label the first N lines of each character of demo episode 1 (default: its annotation file, 4 each)")
    ap.add_argument("--music-snr", type=float, default=None,
                    help="mix the synthetic music bed (demo/music.py) this many dB under the demo episodes' speech")
    args = ap.parse_args()
    layout = DataLayout(ROOT / "data")
    configure_caches(layout)
    encoder = load_speaker_encoder(args.backend, args.model, args.device, None, args.precision)
    t0 = time.time()
    groups: dict[str, list[dict]] = {}

    # demo: episode 1's labels file (4 per character), episode 2 predicted from them
    from animespeech_assets.demo.generate import generate_demo, read_truth
    from animespeech_assets.ingest.subtitles import TranscriptFilters, transcript_from_subtitles
    from animespeech_assets.speakers.annotations import labels_for

    generate_demo(layout)
    demo = []
    episodes = {}
    for ep in ("demo_ep01", "demo_ep02"):
        audio, _ = decode_audio(layout.inputs / f"{ep}.mkv")
        transcript, _ = transcript_from_subtitles(layout.inputs / f"{ep}.srt", len(audio) / ANALYSIS_SAMPLE_RATE, TranscriptFilters())
        if args.music_snr is not None:
            spans = list(zip(transcript.column("start").to_pylist(), transcript.column("end").to_pylist()))
            audio = with_music(audio, ANALYSIS_SAMPLE_RATE, args.music_snr, spans, seed=int(ep[-1]))
        emb = embed_lines(audio, ANALYSIS_SAMPLE_RATE, transcript, encoder)
        episodes[ep] = (transcript, emb, [r["character"] for r in read_truth(layout.demo / f"{ep}.truth.csv")])
    transcript1, emb1, truth1 = episodes["demo_ep01"]
    labels = labels_for(layout.annotation_file("demo_ep01"), transcript1)
    if args.demo_labels is not None:
        from animespeech_assets.speakers.annotations import Label

        ids1 = transcript1.column("line_id").to_pylist()
        labels = [Label(lid, c, None, i + 2) for i, (lid, c) in enumerate(zip(ids1, truth1)) if truth1[: i + 1].count(c) <= args.demo_labels]
    table, _ = references.build_reference([references.LabelledEpisode("demo_ep01", embeddings.with_encoder(emb1, encoder.model_id), labels)])
    ref = knn.Reference.from_table(table)
    labelled = {lab.line_id for lab in labels}
    for ep, (transcript, emb, truth) in episodes.items():
        valid, matrix = vectors_of(emb)
        ids = transcript.column("line_id").to_pylist()
        test_idx = [i for i, lid in enumerate(ids) if not (ep == "demo_ep01" and lid in labelled)]
        demo.append(score(ep, ref, truth, valid, matrix, np.cumsum(valid) - 1, test_idx))
    groups[f"demo (Kokoro voices, 4 characters, {len(labels) // 4} labels each)" + (f", music {args.music_snr:g} dB under" if args.music_snr is not None else "")] = demo

    ami = []
    for name, wav, turns in ami_recordings() if args.music_snr is None else []:
        audio, _ = decode_audio(wav)
        ami.append(evaluate_recording(name, audio, turns, encoder, args.labels))
    if ami:
        groups[f"AMI meetings ({len(ami)} recordings, {args.labels} labelled turns per speaker)"] = ami

    report = {"backend": args.backend, "model": encoder.model_id, "seconds": round(time.time() - t0, 1), "groups": {}}
    print(f"speaker identification with {encoder.model_id}")
    print(f"{'set':<62} {'lines':>5} {'acc':>6} {'mF1':>6} {'certain':>8} {'prec@cert':>9}")
    for name, results in groups.items():
        s = summarise(results)
        report["groups"][name] = {"summary": s, "recordings": [{k: v for k, v in r.items() if k not in ("truth", "pred", "status")} | summarise([r]) for r in results]}
        fmt = lambda x: "  -   " if x is None else f"{x:6.3f}"  # noqa: E731
        print(f"{name:<62} {s['lines']:>5} {fmt(s['accuracy'])} {fmt(s['macro_f1'])} {fmt(s['certain_share']):>8} {fmt(s['certain_precision']):>9}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("" if args.precision == "auto" else f".{args.precision}") + ("" if args.demo_labels is None else f".labels{args.demo_labels}") + ("" if args.music_snr is None else f".music{args.music_snr:g}db")
    out = RESULTS / f"speaker_id.{args.backend}{suffix}.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
