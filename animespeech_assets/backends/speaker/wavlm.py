"""WavLM x-vectors through transformers (``microsoft/wavlm-base-plus-sv`` or a folder)."""

from __future__ import annotations

import numpy as np

from animespeech_assets.backends.speaker.base import SAMPLE_RATE, SPEAKER_ENCODERS, embed_bucketed, float32_only


class WavLMEncoder:
    """WavLM (or any ``AutoModelForAudioXVector``) x-vectors through transformers."""

    precision = "float32"
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
        return embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        inputs = self.extractor(
            [np.asarray(c, np.float32) for c in batch], sampling_rate=SAMPLE_RATE,
            padding=True, return_attention_mask=True, return_tensors="pt",
        ).to(self.device)
        with self.torch.inference_mode():
            return self.model(**inputs).embeddings.cpu().numpy()


@SPEAKER_ENCODERS.register("wavlm", default_model="microsoft/wavlm-base-plus-sv")
def load(model: str, device: str, batch_size: int | None, precision: str = "auto") -> WavLMEncoder:
    float32_only("wavlm", precision)
    return WavLMEncoder(model, device, batch_size or 32)
