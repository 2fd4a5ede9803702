"""Any Whisper checkpoint through transformers (``litagin/anime-whisper``, a local folder), fp16 on
CUDA, batched over voice-activity segments (anime-whisper is trained on single utterances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animespeech_assets.backends.asr.base import RECOGNIZERS, SAMPLE_RATE, DecodeOptions, Segment
from animespeech_assets.core.progress import Progress, advance


def speech_chunks(audio: np.ndarray, max_seconds: float) -> list[tuple[float, float]]:
    """Voice-activity regions (Silero VAD, shipped with faster-whisper), none longer than ``max_seconds``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=300, speech_pad_ms=150, max_speech_duration_s=max_seconds)
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in get_speech_timestamps(np.asarray(audio, np.float32), opts)]


class TransformersWhisperRecognizer:
    """A Whisper checkpoint through transformers, generating in batches over speech chunks."""

    def __init__(self, model: str, device: str, dtype: str, batch_size: int, options: DecodeOptions):
        import torch
        from transformers import AutoProcessor, WhisperForConditionalGeneration

        self.torch = torch
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "float16"
        self.dtype = getattr(torch, dtype)
        self.processor = AutoProcessor.from_pretrained(model)
        self.model = WhisperForConditionalGeneration.from_pretrained(model, dtype=self.dtype).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.options = options
        self.model_id = f"transformers:{model}:{dtype}"

    def transcribe(self, audio: np.ndarray, language: str, progress: Progress | None = None) -> list[Segment]:
        chunks = speech_chunks(audio, self.options.max_segment_seconds)
        segments = []
        for i in range(0, len(chunks), self.batch_size):
            batch = chunks[i : i + self.batch_size]
            clips = [np.asarray(audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)], np.float32) for s, e in batch]
            for (s, e), (text, logprob) in zip(batch, self._generate(clips, language)):
                segments.append(Segment(s, e, text, logprob, None, _compression_ratio(text)))
            advance(progress, sum(e - s for s, e in batch))
        return segments

    def _generate(self, clips: list[np.ndarray], language: str) -> list[tuple[str, float]]:
        torch = self.torch
        feats = self.processor.feature_extractor(clips, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        features = feats.input_features.to(self.device, self.dtype)
        o = self.options
        with torch.inference_mode():
            out = self.model.generate(
                features, language=language, task="transcribe", num_beams=o.beam_size,
                no_repeat_ngram_size=o.no_repeat_ngram_size or None,
                max_new_tokens=min(128, self.model.config.max_target_positions - 8),
                return_dict_in_generate=True, output_scores=True,
            )
            scores = self.model.compute_transition_scores(out.sequences, out.scores, getattr(out, "beam_indices", None), normalize_logits=o.beam_size == 1)
        texts = self.processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
        result = []
        for text, row in zip(texts, scores):
            row = row[torch.isfinite(row) & (row != 0)]
            result.append((text.strip(), float(row.float().mean()) if row.numel() else None))
        return result


def _compression_ratio(text: str) -> float:
    import zlib

    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data))) if data else 0.0


@RECOGNIZERS.register("transformers", default_model="litagin/anime-whisper")
def load(model: str, device: str, precision: str, batch_size: int | None, options: DecodeOptions, cache: Path) -> TransformersWhisperRecognizer:
    return TransformersWhisperRecognizer(model, device, precision, batch_size or 16, options)
