"""faster-whisper (the default): any CTranslate2 Whisper folder; by default the embedded Whisper
base, int8 on CPU. Voice activity detection (Silero) and word timestamps come with it.

``batch_size`` 16 (the default) decodes the speech chunks VAD finds (merged up to 30 s) in batches
with faster-whisper's ``BatchedInferencePipeline``: about 2x faster on this 2-core CPU than one
30-second window after another (``batch_size: 1``, as Whisper does) at a lower CER (demo 0.122
against 0.136, unseen episode 0.133 against 0.157). Each chunk comes back as one segment with looser
word times, which once made its lines coarser; lines are now voice activity's voiced pieces
(:func:`~animespeech_assets.ingest.recognition.voiced_pieces`), where word times only place a word,
and both give the same lines (`benchmarks/results/asr.faster_whisper[.batch1].json`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animespeech_assets.backends.asr.base import RECOGNIZERS, DecodeOptions, Segment, Word
from animespeech_assets.backends.asr.embedded import EMBEDDED, embedded_whisper_base
from animespeech_assets.core.progress import Progress, advance

DEFAULT_BATCH = 16  # speech chunks decoded together; 1: one window after another


class FasterWhisperRecognizer:
    def __init__(self, model: str, device: str, compute_type: str, options: DecodeOptions, cache: Path, batch_size: int = DEFAULT_BATCH):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        path = embedded_whisper_base(cache) if model == EMBEDDED else model
        if compute_type == "auto":
            compute_type = "int8" if device == "cpu" else "float16"
        self.model = WhisperModel(str(path), device=device.split(":")[0],
                                  device_index=int(device.split(":")[1]) if ":" in device else 0,
                                  compute_type=compute_type, download_root=str(cache))
        self.options = options
        self.batch_size = batch_size
        self.pipeline = BatchedInferencePipeline(self.model) if batch_size > 1 else None
        self.model_id = f"faster_whisper:{model}:{compute_type}" + (f":batch{batch_size}" if self.pipeline else "")

    def transcribe(self, audio: np.ndarray, language: str, progress: Progress | None = None) -> list[Segment]:
        o = self.options
        batched = {"batch_size": self.batch_size} if self.pipeline else {}
        segments, _ = (self.pipeline or self.model).transcribe(
            np.asarray(audio, np.float32), language=language, beam_size=o.beam_size, vad_filter=True, **batched,
            vad_parameters={"min_silence_duration_ms": 300, "speech_pad_ms": 150},
            word_timestamps=True, condition_on_previous_text=False,  # no carried-over loops
            no_repeat_ngram_size=o.no_repeat_ngram_size, compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
        )
        out, done = [], 0.0
        for s in segments:  # a generator: decoding happens as it is read
            out.append(Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob, s.compression_ratio,
                               [Word(w.start, w.end, w.word, w.probability) for w in (s.words or [])]))
            advance(progress, max(0.0, s.end - done))
            done = max(done, s.end)
        return out


@RECOGNIZERS.register("faster_whisper", default_model=EMBEDDED)
def load(model: str, device: str, precision: str, batch_size: int | None, options: DecodeOptions, cache: Path) -> FasterWhisperRecognizer:
    return FasterWhisperRecognizer(model, device, precision, options, cache, batch_size or DEFAULT_BATCH)
