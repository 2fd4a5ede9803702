"""Voice activity on real synthesised speech: each line's voiced part against where the generator put
the speech, a cue over music alone marked ``no_speech``, and embeddings of the voiced parts only."""

import numpy as np
import pyarrow as pa
import pytest

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, resample
from animespeech_assets.core.voice import speech_probabilities, voiced_span
from animespeech_assets.demo.generate import SAMPLE_RATE, render
from animespeech_assets.demo.music import music_bed
from animespeech_assets.speakers.embeddings import NO_SPEECH, OK, embed_lines

from .test_identify import FakeEncoder

pytestmark = pytest.mark.models  # Kokoro speaks, Silero listens

SCENE = [("Sakura", "ねえ、ハルト。今日の放課後、ひま？"), ("Haruto", "ひまだけど、どうしたの？"), ("Mei", "わかった。遅れないように急ぐね。")]


@pytest.fixture(scope="module")
def speech_then_music():
    """Three spoken lines (subtitle cues start 50-200 ms early and end late, as the demo's do), then
    four seconds of the music bed alone."""
    audio, lines, _ = render([SCENE], seed=5)
    speech = resample(audio.mean(axis=1), SAMPLE_RATE, ANALYSIS_SAMPLE_RATE)
    music = 0.05 * music_bed(4.0, ANALYSIS_SAMPLE_RATE, seed=1)
    return np.concatenate([speech, music]).astype(np.float32), lines, len(speech) / ANALYSIS_SAMPLE_RATE


def test_voiced_parts_sit_on_the_speech_and_music_alone_holds_none(speech_then_music):
    audio, lines, music_start = speech_then_music
    probs = speech_probabilities(audio)
    assert len(probs) == int(np.ceil(len(audio) / 512))
    for line in lines:
        start, end = voiced_span(probs, line.start, line.end)
        assert line.start <= start and end <= line.end  # within the cue
        assert abs(start - line.speech_start) <= 0.1 and abs(end - line.speech_end) <= 0.15
        assert start - line.start > 0.0 or line.speech_start - line.start < 0.06  # the cue's lead-in is dropped
    assert voiced_span(probs, music_start + 0.5, music_start + 3.5) is None
    # two ONNX threads (the step uses the cores other processes leave free) give the same frames
    np.testing.assert_allclose(speech_probabilities(audio, threads=2), probs, atol=1e-5)


def test_embeddings_use_the_voiced_part_and_mark_a_cue_without_speech(speech_then_music):
    audio, lines, music_start = speech_then_music
    table = pa.table({"line_id": pa.array([1, 2, 3, 4], pa.int32()),
                      "start": [ln.start for ln in lines] + [music_start + 0.5], "end": [ln.end for ln in lines] + [music_start + 3.5]})
    encoder = FakeEncoder()
    out = embed_lines(audio, ANALYSIS_SAMPLE_RATE, table, encoder)
    assert out.column("embedding_status").to_pylist() == [OK, OK, OK, NO_SPEECH]
    spans = list(zip(out.column("speech_start").to_pylist(), out.column("speech_end").to_pylist()))
    assert spans[3] == (None, None) and out.column("vector").null_count == 1
    # the encoder saw exactly the voiced parts, each shorter than its cue
    voiced = sorted(round((e - s) * ANALYSIS_SAMPLE_RATE) for s, e in spans[:3])
    assert sorted(encoder.seen) == pytest.approx(voiced, abs=2)
    assert all(e - s < ln.end - ln.start for (s, e), ln in zip(spans, lines))
