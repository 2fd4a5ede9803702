"""Lines of episodes without subtitles follow speakers: the pieces of one person's utterance that a
sentence end or a pause split are joined, and a change of speaker always ends a line."""

import numpy as np
import pytest

from animespeech_assets.backends.asr import DecodeOptions, Segment, Word, load_recognizer
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE
from animespeech_assets.ingest.recognition import (
    Segmentation,
    SpeakerMerge,
    merge_same_speaker,
    transcript_from_segments,
    voiced_pieces,
    voices,
)
from animespeech_assets.ingest.subtitles import Cue, TranscriptFilters
from animespeech_assets.ingest.transcripts import recognised_lines, silences_of


def _voice(axis: int, dim: int = 16) -> np.ndarray:
    return np.eye(dim)[axis]  # two voices: orthogonal directions


def _noisy(v: np.ndarray, rng, noise: float = 0.35) -> np.ndarray:
    x = v + noise * rng.normal(size=v.size) / np.sqrt(v.size)
    return x / np.linalg.norm(x)


def test_pieces_of_one_voice_join_and_a_new_voice_ends_the_line():
    rng = np.random.default_rng(0)
    a, b = _voice(0), _voice(1)
    # (start, end, text, voice): A speaks two sentences, B two, A one, then a piece too short to embed
    spec = [(0.0, 1.5, "おはよう。", a), (1.8, 3.0, "元気？", a), (3.6, 5.0, "うん。", b), (5.3, 7.0, "元気だよ。", b),
            (7.5, 9.0, "よかった。", a), (9.1, 9.3, "ね", None)]
    cues = [Cue(i, s, e, t, word_probability=0.9) for i, (s, e, t, _) in enumerate(spec, start=1)]
    vectors = [None if v is None else _noisy(v, rng) for *_, v in spec]
    assert voices(vectors, [e - s for s, e, *_ in spec], SpeakerMerge())[:5] in ([1, 1, 2, 2, 1], [2, 2, 1, 1, 2])
    merged = merge_same_speaker(cues, vectors, SpeakerMerge())
    assert [(c.index, c.start, c.end, c.raw_text) for c in merged] == [
        (1, 0.0, 3.0, "おはよう。元気？"), (2, 3.6, 7.0, "うん。元気だよ。"), (3, 7.5, 9.3, "よかった。ね")]
    # one voice, but a pause longer than max_gap: two lines
    far = merge_same_speaker(cues[:2], vectors[:2], SpeakerMerge(max_gap=0.2))
    assert [c.raw_text for c in far] == ["おはよう。", "元気？"]


def test_without_speaker_vectors_lines_are_the_pieces():
    seg = Segment(0.0, 4.0, "", -0.2, 0.01, 1.1, [Word(0.0, 0.5, "はい。", 0.9), Word(0.8, 1.5, "いいえ。", 0.8)])
    table, report = transcript_from_segments([seg], 4.0, TranscriptFilters(), Segmentation())
    assert table.column("text").to_pylist() == ["はい。", "いいえ。"] and report.merged_pieces == 0


def _turns(turns: list[tuple[str, list[str]]], pause: float = 0.35, turn_gap: float = 0.9):
    """Kokoro speech at 16 kHz: each turn (voice, sentences) with ``pause`` s between its sentences; the true turn spans."""
    from animespeech_assets.core.audio import resample
    from animespeech_assets.demo.generate import SAMPLE_RATE, _speech

    sr, parts, spans, t = ANALYSIS_SAMPLE_RATE, [np.zeros(int(0.5 * ANALYSIS_SAMPLE_RATE), np.float32)], [], 0.5
    for voice, sentences in turns:
        start = t
        for k, text in enumerate(sentences):
            clip = resample(_speech(text, voice, 1.0).astype(np.float32), SAMPLE_RATE)
            parts.append(0.8 * clip)
            t += len(clip) / sr
            if k < len(sentences) - 1:
                parts.append(np.zeros(int(pause * sr), np.float32))
                t += pause
        spans.append((start, t))
        parts.append(np.zeros(int(turn_gap * sr), np.float32))
        t += turn_gap
    return np.concatenate(parts), spans


@pytest.mark.models
def test_recognised_lines_follow_speakers_on_real_speech(tmp_path):
    """Real Kokoro voices, the embedded Whisper and CAM++: two speakers, two sentences a turn."""
    from animespeech_assets.backends.speaker import load_speaker_encoder

    audio, truth = _turns([("jf_alpha", ["おはようございます。", "今日は晴れていますね。"]),
                           ("jm_kumo", ["そうですね。", "公園に行きましょうか。"]),
                           ("jf_alpha", ["いいですね。", "お弁当を持っていきます。"]),
                           ("jm_kumo", ["ありがとう。", "楽しみです。"])])
    recognizer = load_recognizer("faster_whisper", "", "cpu", "auto", None, DecodeOptions(), str(tmp_path))
    segments = recognizer.transcribe(audio, "ja")
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    pieces = voiced_pieces(segments, Segmentation(), silences_of(audio, Segmentation()), duration)
    encoder = load_speaker_encoder("campplus", "", "cpu")
    table, report = recognised_lines(audio, segments, TranscriptFilters(), Segmentation(), DecodeOptions(), encoder)
    spans = list(zip(table.column("start").to_pylist(), table.column("end").to_pylist()))
    assert len(pieces) > len(truth)  # the pauses between sentences split the turns
    assert len(spans) == len(truth) and report.merged_pieces == len(pieces) - len(truth)
    for (ts, te), (s, e) in zip(truth, spans):
        overlap = max(0.0, min(te, e) - max(ts, s)) / (max(te, e) - min(ts, s))
        assert overlap >= 0.7, (ts, te, s, e)


def test_doubtful_recognised_text_is_reviewed_first_and_the_sheet_accepts_saving_back(tmp_path):
    import pyarrow as pa

    from animespeech_assets.speakers.annotations import read_annotations
    from animespeech_assets.speakers.review import review_rows, sheet_text, text_confidence

    predictions = pa.table({
        "line_id": [1, 2, 3], "start": [0.0, 2.0, 4.0], "end": [1.5, 3.5, 5.5], "text": ["はい", "たぶん", "いいえ"],
        "status": ["unknown", "certain", "uncertain"], "distance": [0.9, 0.1, 0.5], "predicted_character": [None, "Mei", "Yuki"],
        "neighbours": [[], [], []],
    })
    transcript = pa.table({"line_id": [1, 2, 3], "source": ["asr"] * 3, "word_probability": [0.95, 0.41, 0.8]})
    rows = review_rows("ep", predictions, text_confidence(transcript))
    assert [(r["line_id"], r["text_confidence"]) for r in rows] == [(2, "0.410"), (1, "0.950"), (3, "0.800")]
    sheet = tmp_path / "ep.csv"
    sheet.write_text(sheet_text(rows).replace(",,たぶん,", ",Mei,たぶん,", 1), encoding="utf-8")
    assert [(a.line_id, a.character) for a in read_annotations(sheet)] == [(2, "Mei")]
