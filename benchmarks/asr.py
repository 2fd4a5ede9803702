"""Speech recognition: character error rate and real-time factor on Japanese recordings.

Corpora from ../shared/eval (cv-ja-beatrice, kokoro-ja-librivox, reazonspeech-k2-testwavs Japanese
clips, julius-segkit-sample, ja-constructed-multispk) and the demo episode with its subtitles
withheld (CER against the ground truth, share of ground-truth lines matched by one transcript line
with IoU >= 0.5, and speaker predictions for that transcript from the subtitled episode's labels).
Plain CER is on NFKC text without punctuation; kana CER compares pyopenjtalk readings.

    .venv/bin/python -m benchmarks.asr [--backend faster_whisper] [--precision float32] [--beam-size 5] [--batch-size 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from animespeech_assets.backends.asr import DecodeOptions, load_recognizer
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio
from animespeech_assets.core.environment import configure_caches
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.metrics import cer, kana_cer
from animespeech_assets.ingest.recognition import Segmentation
from animespeech_assets.ingest.subtitles import TranscriptFilters
from animespeech_assets.ingest.transcripts import recognised_lines

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"


def corpora() -> dict[str, list[tuple[Path, str]]]:
    def tsv(folder, text_col="text"):
        with open(EVAL / folder / "transcripts.tsv", encoding="utf-8") as fh:
            return [(EVAL / folder / r["file"], r[text_col]) for r in csv.DictReader(fh, delimiter="\t")]

    reazon = []
    for line in (EVAL / "reazonspeech-k2-testwavs/transcripts.txt").read_text(encoding="utf-8").splitlines():
        name, _, text = line.partition(",")
        if name.strip() in ("test_ja_1", "test_ja_2"):
            reazon.append((EVAL / "reazonspeech-k2-testwavs" / f"{name.strip()}.wav", text.strip()))
    multi = EVAL / "ja-constructed-multispk"
    with open(multi / "ja_multispk.segments.tsv", encoding="utf-8") as fh:
        multi_text = "".join(r["text"].split("（")[0] for r in csv.DictReader(fh, delimiter="\t"))
    return {
        "cv-ja-beatrice": tsv("cv-ja-beatrice"),
        "kokoro-ja-librivox": tsv("kokoro-ja-librivox"),
        "reazonspeech-k2 (ja)": reazon,
        "julius-segkit-sample": [(EVAL / "julius-segkit-sample/sample.wav", (EVAL / "julius-segkit-sample/sample.txt").read_text(encoding="utf-8").strip())],
        "ja-constructed-multispk": [(multi / "ja_multispk.wav", multi_text)],
    }


def transcribe(recognizer, audio, seg: Segmentation, encoder=None):
    """The transcript as the ``transcript`` asset makes it without subtitles (with ``encoder``: lines
    joined by speaker), the recognition time and the audio's duration."""
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    t0 = time.perf_counter()
    segments = recognizer.transcribe(audio, "ja")
    seconds = time.perf_counter() - t0
    table, _ = recognised_lines(audio, segments, TranscriptFilters(), seg, recognizer.options, encoder)
    return table, seconds, duration


def line_figures(table, truth: list[dict]) -> dict:
    """Lines against the true ones: count, share of true lines matched at IoU >= 0.5, CER, kana CER."""
    hyp_text = "".join(table.column("text").to_pylist())
    ref_text = "".join(r["text"] for r in truth)
    e, n = cer(ref_text, hyp_text)
    ke, kn = kana_cer(ref_text, hyp_text)
    spans = list(zip(table.column("start").to_pylist(), table.column("end").to_pylist()))
    truth_spans = [(float(r["speech_start"]), float(r["speech_end"])) for r in truth]
    matched = sum(1 for t in truth_spans if any(iou(t, s) >= 0.5 for s in spans))
    return {"lines": table.num_rows, "truth_lines": len(truth), "line_count_error": table.num_rows / len(truth) - 1,
            "cer": e / n, "kana_cer": ke / kn, "truth_lines_matched_iou_0.5": matched / len(truth)}


def iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def demo_without_subtitles(layout, recognizer, seg, encoder_backend="campplus") -> dict:
    """demo_ep02 transcribed by ASR (lines joined by speaker, as the asset does); speakers predicted
    from demo_ep01's (subtitled) labels."""
    from animespeech_assets.backends.speaker import load_speaker_encoder
    from animespeech_assets.demo.generate import generate_demo, read_truth
    from animespeech_assets.ingest.subtitles import transcript_from_subtitles
    from animespeech_assets.speakers import embeddings, evaluation, knn, references
    from animespeech_assets.speakers.annotations import labels_for
    from animespeech_assets.speakers.embeddings import embed_lines, vectors_of

    generate_demo(layout)
    encoder = load_speaker_encoder(encoder_backend, "", "cpu")
    audio, _ = decode_audio(layout.inputs / "demo_ep02.mkv")
    table, seconds, duration = transcribe(recognizer, audio, seg, encoder)
    truth = read_truth(layout.demo / "demo_ep02.truth.csv")
    spans = list(zip(table.column("start").to_pylist(), table.column("end").to_pylist()))
    truth_spans = [(float(r["speech_start"]), float(r["speech_end"])) for r in truth]

    audio1, _ = decode_audio(layout.inputs / "demo_ep01.mkv")
    t1, _ = transcript_from_subtitles(layout.inputs / "demo_ep01.srt", len(audio1) / ANALYSIS_SAMPLE_RATE, TranscriptFilters())
    emb1 = embeddings.with_encoder(embed_lines(audio1, ANALYSIS_SAMPLE_RATE, t1, encoder), encoder.model_id)
    ref_table, _ = references.build_reference([references.LabelledEpisode("demo_ep01", emb1, labels_for(layout.annotation_file("demo_ep01"), t1))])
    ref = knn.Reference.from_table(ref_table)
    s = evaluation.leave_one_out(ref)["suggested"]
    emb2 = embed_lines(audio, ANALYSIS_SAMPLE_RATE, table, encoder)
    valid, matrix = vectors_of(emb2)
    pred = knn.predict(matrix, ref, s["k"])
    # each recognised line's true speaker: the ground-truth line it overlaps most
    speakers = []
    for span in np.asarray(spans)[valid]:
        overlaps = [max(0.0, min(span[1], t[1]) - max(span[0], t[0])) for t in truth_spans]
        speakers.append(truth[int(np.argmax(overlaps))]["character"])
    correct = [p == t for p, t in zip(pred.character, speakers)]
    return {
        **line_figures(table, truth), "real_time_factor": seconds / duration,
        "speaker_accuracy": float(np.mean(correct)) if correct else None, "speaker_lines_embedded": int(valid.sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="faster_whisper")
    ap.add_argument("--model", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="faster_whisper compute type (auto: int8 on CPU) or torch dtype")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=None, help="speech chunks decoded together (default: the backend's, 16; 1: one window after another)")
    ap.add_argument("--max-gap", type=float, default=Segmentation.max_gap)
    ap.add_argument("--tag", default="", help="suffix for the results file")
    ap.add_argument("--long-minutes", type=float, default=21, help="also time a generated episode this long (0: skip)")
    args = ap.parse_args()
    layout = DataLayout(ROOT / "data")
    configure_caches(layout)
    recognizer = load_recognizer(args.backend, args.model, args.device, args.precision, args.batch_size, DecodeOptions(beam_size=args.beam_size), str(layout.cache / "models"))
    seg = Segmentation(max_gap=args.max_gap)
    report = {"model": recognizer.model_id, "precision": args.precision, "beam_size": args.beam_size, "batch_size": args.batch_size, "max_gap": args.max_gap, "corpora": {}}
    print(f"speech recognition with {recognizer.model_id}, beam {args.beam_size}, batch {args.batch_size}")
    print(f"{'corpus':<26} {'clips':>5} {'audio s':>8} {'CER':>6} {'kana CER':>9} {'x real time':>11}")
    for name, clips in corpora().items():
        edits = chars = kedits = kchars = 0
        seconds = duration = 0.0
        for path, text in clips:
            audio, _ = decode_audio(path)
            table, s, d = transcribe(recognizer, audio, seg)
            hyp = "".join(table.column("text").to_pylist())
            e, n = cer(text, hyp)
            ke, kn = kana_cer(text, hyp)
            edits, chars, kedits, kchars = edits + e, chars + n, kedits + ke, kchars + kn
            seconds, duration = seconds + s, duration + d
        row = {"clips": len(clips), "audio_seconds": round(duration, 1), "cer": edits / chars, "kana_cer": kedits / kchars, "speed_x_real_time": duration / seconds}
        report["corpora"][name] = row
        print(f"{name:<26} {row['clips']:>5} {row['audio_seconds']:>8} {row['cer']:6.3f} {row['kana_cer']:9.3f} {row['speed_x_real_time']:11.1f}")
    demo = demo_without_subtitles(layout, recognizer, seg)
    report["demo_ep02_without_subtitles"] = demo
    from animespeech_assets.backends.speaker import load_speaker_encoder
    from benchmarks.unseen_episode import unseen_episode

    media, truth = unseen_episode(layout.cache / "bench")
    audio, _ = decode_audio(media)
    encoder = load_speaker_encoder("campplus", "", "cpu")
    for name, enc in (("unseen_episode_without_subtitles", encoder), ("unseen_episode_pieces_only", None)):
        table, seconds, duration = transcribe(recognizer, audio, seg, enc)
        report[name] = {**line_figures(table, truth), "audio_seconds": round(duration, 1), "real_time_factor": seconds / duration}
        print(f"{name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in report[name].items()))
    if args.long_minutes:
        from benchmarks.embedding_throughput import prepare

        audio_path, _ = prepare(args.long_minutes, layout.cache / "bench")
        table, seconds, duration = transcribe(recognizer, np.load(audio_path), seg)
        report["long_episode"] = {"minutes": round(duration / 60, 1), "lines": table.num_rows, "speed_x_real_time": duration / seconds}
        print(f"long episode: {duration / 60:.1f} min in {seconds:.0f} s = {duration / seconds:.1f}x real time")
    print("demo_ep02 without subtitles: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in demo.items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"asr.{args.backend}{args.tag}.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
