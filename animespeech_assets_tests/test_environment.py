"""Where the instance and the files live: the pool limits hold with a user's own DAGSTER_HOME, and
pipeline folders are readable by others (a training container, another user)."""

import os
import stat

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
