"""Where the instance and the files live: the pool limits hold with a user's own DAGSTER_HOME, and
pipeline folders are readable by others (a training container, another user); and which OpenMP
runtime the recogniser runs on next to torch."""

import os
import stat

import pytest
import yaml

from animespeech_assets.core.environment import PROJECT_ROOT, ensure_dagster_home
from animespeech_assets.core.storage import atomic_dir


def test_a_users_own_dagster_home_gets_the_project_pool_limits(tmp_path, monkeypatch, capsys):
    home = tmp_path / "my_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_dagster_home() == home
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config == yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())


def test_a_users_own_instance_file_is_left_alone_with_a_warning_when_it_sets_no_pools(tmp_path, monkeypatch, capsys):
    home = tmp_path / "my_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert "sets no concurrency pools" in capsys.readouterr().err


def test_atomic_folders_get_the_usual_mode_not_mkdtemps_private_one(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_dir(tmp_path / "exports" / "Mei") as tmp:
        (tmp / "metadata.csv").write_text("x|y\n")
    mode = stat.S_IMODE((tmp_path / "exports" / "Mei").stat().st_mode)
    assert mode == 0o777 & ~umask


# The recogniser runs in a process where torch is (or will be) loaded; what matters is which OpenMP
# runtime CTranslate2's parallel regions call into once both are loaded.
_RECOGNISE_AFTER_TORCH = """
import sys
if sys.argv[1] == "code location":
    import animespeech_assets.definitions  # noqa: F401  (what the CLI, webserver and workers load)
import numpy as np
import torch
torch.ones(64, 64) @ torch.ones(64, 64)
from faster_whisper import WhisperModel
from animespeech_assets.backends.asr.embedded import embedded_whisper_base
model = WhisperModel(str(embedded_whisper_base(__import__("pathlib").Path(sys.argv[2]))), device="cpu", compute_type="int8")
segments, _ = model.transcribe(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), language="ja")
list(segments)
"""


def _gomp_providers(tmp_path, order: str) -> set[str]:
    """The libraries libctranslate2's ``GOMP_*`` calls bound to (the dynamic linker's own report)."""
    import subprocess
    import sys

    log = tmp_path / order.replace(" ", "_")
    env = {**os.environ, "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(log)}
    subprocess.run([sys.executable, "-c", _RECOGNISE_AFTER_TORCH, order, str(tmp_path / "cache")],
                   env=env, check=True, capture_output=True, timeout=300)
    providers = set()
    for report in tmp_path.glob(log.name + ".*"):
        for line in report.read_text(errors="replace").splitlines():
            if "binding file" in line and "libctranslate2" in line and "`GOMP_" in line:
                providers.add(os.path.basename(line.split(" to ", 1)[1].split(" [", 1)[0]))
    return providers


@pytest.mark.models
def test_the_code_location_keeps_ctranslate2_on_its_own_openmp_runtime_next_to_torch(tmp_path):
    own = _gomp_providers(tmp_path, "code location")
    shared = _gomp_providers(tmp_path, "torch first")
    # loaded after torch, CTranslate2 calls torch's libgomp (the slowdown the code location avoids) ...
    assert shared == {"libgomp.so.1"}
    # ... loaded by the code location first, the copy its own wheel ships (ctranslate2.libs/libgomp-<hash>)
    assert len(own) == 1 and next(iter(own)).startswith("libgomp-")
