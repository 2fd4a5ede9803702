"""Resemblyzer GE2E d-vectors (the default): weights inside the resemblyzer wheel, no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animespeech_assets.backends.speaker.base import SPEAKER_ENCODERS, batches, float32_only, normalise

DEFAULT = "resemblyzer/pretrained.pt"


class ResemblyzerEncoder:
    """Resemblyzer's GE2E encoder, batched across utterances (its own API embeds one at a time)."""

    precision = "float32"
    min_seconds = 0.3

    def __init__(self, device: str = "cpu", batch_size: int = 64, weights: str | None = None):
        import torch
        from resemblyzer import VoiceEncoder, hparams
        from torchaudio.functional import melscale_fbanks

        self.torch = torch
        self.device = device
        self.batch_size = batch_size
        self.encoder = VoiceEncoder(device=device, verbose=False, weights_fpath=weights)
        self.model_id = f"resemblyzer:{Path(weights).name if weights else 'pretrained.pt'}"
        self.dim = 256
        # resemblyzer's mel spectrogram (librosa's melspectrogram: power STFT, centred with zero padding,
        # periodic Hann window, Slaney mel filters) computed with torch: the same values to float32
        # precision, without importing librosa's feature module (2 s) or its per-call overhead
        rate = hparams.sampling_rate
        self.n_fft = rate * hparams.mel_window_length // 1000
        self.hop = rate * hparams.mel_window_step // 1000
        self.window = torch.hann_window(self.n_fft)
        self.mel_filters = melscale_fbanks(self.n_fft // 2 + 1, 0.0, rate / 2, hparams.mel_n_channels, rate,
                                           norm="slaney", mel_scale="slaney")

    def mel_spectrogram(self, wav: np.ndarray) -> np.ndarray:
        """(frames, 40) float32, as ``resemblyzer.audio.wav_to_mel_spectrogram``."""
        spec = self.torch.stft(self.torch.tensor(wav), self.n_fft, self.hop, window=self.window, center=True,
                               pad_mode="constant", return_complex=True).abs().square()
        return (spec.T @ self.mel_filters).numpy()

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        from resemblyzer import audio as ra

        owners, mels = [], []
        for i, wav in enumerate(clips):
            wav = ra.normalize_volume(np.asarray(wav, np.float32), -30, increase_only=True)
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
            if wav_slices[-1].stop >= len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            mel = self.mel_spectrogram(wav)
            for s in mel_slices:
                mels.append(mel[s])
                owners.append(i)
        partials = np.empty((len(mels), self.dim), np.float32)
        with self.torch.inference_mode():
            for b in batches(len(mels), self.batch_size):
                x = self.torch.from_numpy(np.stack(mels[b])).to(self.device)
                partials[b] = self.encoder(x).cpu().numpy()
        owners_arr = np.asarray(owners)
        sums = np.zeros((len(clips), self.dim), np.float32)
        np.add.at(sums, owners_arr, partials)
        return normalise(sums / np.bincount(owners_arr, minlength=len(clips))[:, None])


@SPEAKER_ENCODERS.register("resemblyzer", default_model="resemblyzer/pretrained.pt")
def load(model: str, device: str, batch_size: int | None, precision: str = "auto") -> ResemblyzerEncoder:
    float32_only("resemblyzer", precision)
    # the default: the weights inside the resemblyzer wheel
    return ResemblyzerEncoder(device, batch_size or 32, None if model == DEFAULT else model)
