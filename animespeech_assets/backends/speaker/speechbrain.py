"""ECAPA-TDNN through SpeechBrain (``speechbrain/spkrec-ecapa-voxceleb`` or a local folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animespeech_assets.backends.speaker.base import SAMPLE_RATE, SPEAKER_ENCODERS, embed_bucketed, float32_only, padded


class SpeechBrainEncoder:
    """ECAPA-TDNN (or any SpeechBrain ``EncoderClassifier``) from a hub id or a local folder."""

    precision = "float32"
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
        probe = self.classifier.encode_batch(padded([np.zeros(SAMPLE_RATE, np.float32)])[0].to(device))
        self.dim = int(probe.shape[-1])

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        return embed_bucketed(clips, self.batch_size, self._forward)

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        wavs, lens = padded(batch)
        emb = self.classifier.encode_batch(wavs.to(self.device), lens.to(self.device), normalize=False)
        return emb.squeeze(1).detach().cpu().numpy()


@SPEAKER_ENCODERS.register("speechbrain", default_model="speechbrain/spkrec-ecapa-voxceleb")
def load(model: str, device: str, batch_size: int | None, precision: str = "auto") -> SpeechBrainEncoder:
    float32_only("speechbrain", precision)
    return SpeechBrainEncoder(model, device, batch_size or 32)
