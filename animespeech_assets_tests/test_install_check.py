"""The install check: the compiled extensions of this environment load and match uv.lock; a
drifted pair is reported with the package and the fix."""

import importlib.metadata

from animespeech_assets.core import install_check


def test_this_environment_matches_the_lock_and_loads():
    assert install_check.LOCK_FILE.exists()
    locked = install_check.locked_versions()
    assert locked["torch"] == "2.11.0" and locked["torchaudio"] == "2.11.0"
    assert importlib.metadata.version("torchaudio").split("+")[0] == locked["torchaudio"]
    assert install_check.problems(extras=["test"]) == []


def test_a_version_other_than_the_locked_one_is_reported_with_the_fix(tmp_path):
    installed = importlib.metadata.version("torchaudio")
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n\n[[package]]\nname = "torchaudio"\nversion = "2.11.1"\n', encoding="utf-8")
    found = install_check.problems(lock=lock)
    assert found == [f"torchaudio {installed} is installed but uv.lock pins 2.11.1: reinstall from the lock: bash scripts/install.sh"]
