"""``anime_speaker_embedding``: ECAPA trained on anime speech (variants ``char``/``va``, or a checkpoint)."""

from __future__ import annotations

import numpy as np

from animespeech_assets.backends.speaker.base import SPEAKER_ENCODERS, embed_bucketed, float32_only, padded


class AnimeSpeakerEncoder:
    """``anime_speaker_embedding`` (ECAPA with GroupNorm, trained on anime speech), batched with
    per-clip lengths so padding does not leak into the pooled statistics."""

    precision = "float32"
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
        return embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        wavs, lens = padded(batch)
        wavs, lens = wavs.to(self.device), lens.to(self.device)
        with self.torch.inference_mode():
            peak = wavs.abs().amax(dim=1, keepdim=True).clamp(min=1.0)  # per clip, not per batch
            feats = self.model.fbank(wavs / peak * 32768.0)  # the scaling its training used
            return self.model.backbone(feats, lengths=lens).squeeze(1).cpu().numpy()


@SPEAKER_ENCODERS.register("anime", default_model="char")
def load(model: str, device: str, batch_size: int | None, precision: str = "auto") -> AnimeSpeakerEncoder:
    float32_only("anime", precision)
    return AnimeSpeakerEncoder(model, device, batch_size or 32)
