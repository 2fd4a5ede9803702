"""Check, in seconds, that the compiled extensions the pipeline needs load, before any long run.

A torchaudio or torchcodec build that does not match torch fails only when its library is first
loaded, which can be 15 minutes into a run. This module loads each one up front and, where the
project's ``uv.lock`` is at hand, compares the installed versions with the locked ones, so a
drifted install fails at once with the package, the cause and the fix.

``python -m animespeech_assets.core.install_check [--extra test]`` (run by ``scripts/install.sh``,
the test session and ``animespeech demo``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = PROJECT_ROOT / "uv.lock"
FIX = "reinstall from the lock: bash scripts/install.sh{extra}"


def _torch() -> None:
    import torch

    torch.zeros(1).add_(1)


def _torchaudio() -> None:
    # the C++ library is loaded lazily; load it now (a build for another torch fails right here)
    import torchaudio  # noqa: F401
    from torchaudio._extension.utils import _load_lib

    _load_lib("libtorchaudio")


def _torchcodec() -> None:
    # loads libtorchcodec against torch and FFmpeg's shared libraries
    from torchcodec.decoders import AudioDecoder  # noqa: F401


def _llama_cpp() -> None:
    import llama_cpp

    llama_cpp.llama_backend_init()


def _ctranslate2() -> None:
    import ctranslate2

    ctranslate2.get_cuda_device_count()


def _av() -> None:
    import av

    av.codec.Codec("flac", "w")


def _onnxruntime() -> None:
    import onnxruntime

    onnxruntime.get_available_providers()


@dataclass(frozen=True)
class Extension:
    distribution: str
    load: Callable[[], None]
    extra: str = ""  # "" = needed by the pipeline itself; else only with this extra


EXTENSIONS = (
    Extension("torch", _torch),
    Extension("torchaudio", _torchaudio),
    Extension("ctranslate2", _ctranslate2),
    Extension("av", _av),
    Extension("onnxruntime", _onnxruntime),
    Extension("torchcodec", _torchcodec, extra="test"),
    Extension("llama-cpp-python", _llama_cpp, extra="test"),
)


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """Package name -> version from ``uv.lock`` (empty when there is no lock, e.g. a wheel install).

    A package locked at several versions (one per Python version) is left out."""
    if not lock.exists():
        return {}
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(lock.read_text(encoding="utf-8")).get("package", []):
        versions.setdefault(package["name"], set()).add(package.get("version", ""))
    return {name: next(iter(v)) for name, v in versions.items() if len(v) == 1}


def problems(extras: Sequence[str] = (), lock: Path = LOCK_FILE) -> list[str]:
    """One message per extension that is missing, drifted from the lock, or does not load."""
    locked = locked_versions(lock)
    fix = FIX.format(extra=" " + " ".join(extras) if extras else "")
    found = []
    for ext in EXTENSIONS:
        if ext.extra and ext.extra not in extras:
            continue
        try:
            installed = importlib.metadata.version(ext.distribution)
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{ext.distribution} is not installed: {fix}")
            continue
        want = locked.get(ext.distribution)
        if want and installed.split("+")[0] != want:
            found.append(f"{ext.distribution} {installed} is installed but uv.lock pins {want}: {fix}")
            continue
        try:
            ext.load()
        except Exception as exc:  # an ImportError, OSError (undefined symbol), RuntimeError ...
            causes = [str(exc)] + ([str(exc.__cause__)] if exc.__cause__ else [])
            cause = " ".join(" ".join(causes).split())[:400]
            found.append(f"{ext.distribution} {installed} does not load ({type(exc).__name__}: {cause}): {fix}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="also check the extensions of this extra (test)")
    args = parser.parse_args(argv)
    found = problems(args.extra)
    for message in found:
        print(f"install check failed: {message}", file=sys.stderr)
    if not found:
        checked = [e.distribution for e in EXTENSIONS if not e.extra or e.extra in args.extra]
        print(f"install check: {', '.join(checked)} load", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
