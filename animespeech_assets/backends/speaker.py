"""Speaker encoders: one vector per clip, computed in batches.

Every encoder takes 16 kHz mono float32 clips and returns L2-normalised float32 vectors, so
cosine distance is ``1 - a @ b`` everywhere downstream.

- ``resemblyzer`` (default): GE2E d-vectors, weights inside the resemblyzer wheel, no download.
- ``speechbrain``: ECAPA-TDNN through SpeechBrain (``speechbrain/spkrec-ecapa-voxceleb`` or a folder).
- ``anime``: ``anime_speaker_embedding`` ECAPA trained on anime speech (variants ``char``/``va``, or a checkpoint).
- ``wavlm``: WavLM x-vector through transformers (``microsoft/wavlm-base-plus-sv`` or a folder).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from animespeech_assets.backends.devices import resolve_device

SAMPLE_RATE = 16_000
BACKENDS = ("resemblyzer", "speechbrain", "anime", "wavlm")
DEFAULT_MODELS = {
    "resemblyzer": "resemblyzer/pretrained.pt",
    "speechbrain": "speechbrain/spkrec-ecapa-voxceleb",
    "anime": "char",
    "wavlm": "microsoft/wavlm-base-plus-sv",
}


class SpeakerEncoder(Protocol):
    model_id: str
    dim: int
    min_seconds: float  # shorter clips are not embedded (marked ``too_short``)

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """(len(clips), dim) float32, rows L2-normalised. Clips are 16 kHz mono float32."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _padded(clips: list[np.ndarray]):
    """(batch, max_len) tensor and the relative lengths SpeechBrain expects.

    Short clips are padded by repeating themselves rather than with zeros: pooling is masked by
    the lengths, but convolutions near a clip's end still see the padding, and silence there
    (log-mel of zeros) pulls the vector much further than more of the same voice does.
    """
    import torch

    longest = max(len(c) for c in clips)
    batch = np.stack([np.resize(np.asarray(c, np.float32), longest) for c in clips])
    lengths = torch.tensor([len(c) / longest for c in clips], dtype=torch.float32)
    return torch.from_numpy(batch), lengths


MAX_PADDING = 0.1  # a batch's shortest clip is at least 90 % of its longest


def _batches(n: int, batch_size: int):
    for i in range(0, n, max(1, batch_size)):
        yield slice(i, min(n, i + batch_size))


def length_buckets(lengths: list[int], batch_size: int, max_padding: float = MAX_PADDING) -> list[list[int]]:
    """Batches of clip indices, longest first, where no clip is padded by more than ``max_padding``.

    Convolutional encoders (ECAPA, WavLM's feature extractor) see zero padding near a clip's end
    even when pooling is masked, so batching only clips of similar length keeps a line's vector
    (nearly) the same whether it is embedded alone or in a batch.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and lengths[i] >= (1 - max_padding) * lengths[batches[-1][0]]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _embed_bucketed(clips: list[np.ndarray], batch_size: int, forward) -> np.ndarray:
    """Run ``forward(list_of_clips) -> (b, dim)`` over length buckets; rows in the input order."""
    out: list[np.ndarray | None] = [None] * len(clips)
    for bucket in length_buckets([len(c) for c in clips], batch_size):
        for i, row in zip(bucket, forward([clips[i] for i in bucket])):
            out[i] = row
    return _normalise(np.stack(out))


class ResemblyzerEncoder:
    """Resemblyzer's GE2E encoder, batched across utterances (its own API embeds one at a time)."""

    min_seconds = 0.3

    def __init__(self, device: str = "cpu", batch_size: int = 64, weights: str | None = None):
        import torch
        from resemblyzer import VoiceEncoder

        self.torch = torch
        self.device = device
        self.batch_size = batch_size
        self.encoder = VoiceEncoder(device=device, verbose=False, weights_fpath=weights)
        self.model_id = f"resemblyzer:{Path(weights).name if weights else 'pretrained.pt'}"
        self.dim = 256

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        from resemblyzer import audio as ra

        owners, mels = [], []
        for i, wav in enumerate(clips):
            wav = ra.normalize_volume(np.asarray(wav, np.float32), -30, increase_only=True)
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
            if wav_slices[-1].stop >= len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            mel = ra.wav_to_mel_spectrogram(wav)
            for s in mel_slices:
                mels.append(mel[s])
                owners.append(i)
        partials = np.empty((len(mels), self.dim), np.float32)
        with self.torch.inference_mode():
            for b in _batches(len(mels), self.batch_size):
                x = self.torch.from_numpy(np.stack(mels[b])).to(self.device)
                partials[b] = self.encoder(x).cpu().numpy()
        owners_arr = np.asarray(owners)
        sums = np.zeros((len(clips), self.dim), np.float32)
        np.add.at(sums, owners_arr, partials)
        return _normalise(sums / np.bincount(owners_arr, minlength=len(clips))[:, None])


class SpeechBrainEncoder:
    """ECAPA-TDNN (or any SpeechBrain ``EncoderClassifier``) from a hub id or a local folder."""

    min_seconds = 0.3

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32, savedir: Path | None = None):
        from speechbrain.inference.speaker import EncoderClassifier

        self.batch_size = batch_size
        local = Path(model).expanduser()
        source = str(local.resolve()) if local.is_dir() else model
        save = savedir or Path.home() / ".cache" / "speechbrain" / model.replace("/", "--")
        self.classifier = EncoderClassifier.from_hparams(source=source, savedir=str(save), run_opts={"device": device})
        self.device = device
        self.model_id = f"speechbrain:{model}"
        probe = self.classifier.encode_batch(_padded([np.zeros(SAMPLE_RATE, np.float32)])[0].to(device))
        self.dim = int(probe.shape[-1])

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        return _embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        wavs, lens = _padded(batch)
        emb = self.classifier.encode_batch(wavs.to(self.device), lens.to(self.device), normalize=False)
        return emb.squeeze(1).detach().cpu().numpy()


class AnimeSpeakerEncoder:
    """``anime_speaker_embedding`` (ECAPA with GroupNorm, trained on anime speech), batched with
    per-clip lengths so padding does not leak into the pooled statistics."""

    min_seconds = 0.3

    def __init__(self, model: str = "char", device: str = "cpu", batch_size: int = 32, **architecture):
        import torch
        from anime_speaker_embedding import AnimeSpeakerEmbedding

        self.torch = torch
        variant, ckpt = (model, None) if model in ("char", "va") else (None, model)
        self.model = AnimeSpeakerEmbedding(variant=variant, ckpt_path=ckpt, device=device, **architecture)
        self.device = device
        self.batch_size = batch_size
        self.model_id = f"anime_speaker_embedding:{model}"
        self.dim = int(architecture.get("lin_neurons", 192))

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        return _embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        wavs, lens = _padded(batch)
        wavs, lens = wavs.to(self.device), lens.to(self.device)
        with self.torch.inference_mode():
            peak = wavs.abs().amax(dim=1, keepdim=True).clamp(min=1.0)  # per clip, not per batch
            feats = self.model.fbank(wavs / peak * 32768.0)  # the scaling its training used
            return self.model.backbone(feats, lengths=lens).squeeze(1).cpu().numpy()


class WavLMEncoder:
    """WavLM (or any ``AutoModelForAudioXVector``) x-vectors through transformers."""

    min_seconds = 0.3

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16):
        import torch
        from transformers import AutoFeatureExtractor, AutoModelForAudioXVector

        self.torch = torch
        self.extractor = AutoFeatureExtractor.from_pretrained(model)
        self.model = AutoModelForAudioXVector.from_pretrained(model).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.model_id = f"wavlm:{model}"
        self.dim = int(self.model.config.xvector_output_dim)

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        return _embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        inputs = self.extractor(
            [np.asarray(c, np.float32) for c in batch], sampling_rate=SAMPLE_RATE,
            padding=True, return_attention_mask=True, return_tensors="pt",
        ).to(self.device)
        with self.torch.inference_mode():
            return self.model(**inputs).embeddings.cpu().numpy()


@lru_cache(maxsize=4)
def load_speaker_encoder(backend: str = "resemblyzer", model: str = "", device: str = "auto", batch_size: int = 32) -> SpeakerEncoder:
    """The encoder for ``backend``; loaded once per process for a given (backend, model, device)."""
    device = resolve_device(device)
    model = model or DEFAULT_MODELS.get(backend, "")
    if backend == "resemblyzer":
        weights = None if model == DEFAULT_MODELS["resemblyzer"] else model
        return ResemblyzerEncoder(device, batch_size, weights)
    if backend == "speechbrain":
        return SpeechBrainEncoder(model, device, batch_size)
    if backend == "anime":
        return AnimeSpeakerEncoder(model, device, batch_size)
    if backend == "wavlm":
        return WavLMEncoder(model, device, batch_size)
    raise ValueError(f"unknown speaker encoder backend {backend!r}; expected one of {BACKENDS}")
