"""deploy/ checked with Dagster's own configuration code: the docker-compose instance and services, the
Helm values as the official chart turns them into instance and run-launcher settings, and the
Kubernetes Job a GPU step gets (dagster-k8s builds it from the asset's tags)."""

import shlex
from pathlib import Path

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

from animespeech_assets.cluster import settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _check_instance(tmp_path: Path, text: str) -> dict:
    """Validate an instance's dagster.yaml as Dagster does at start-up, and load its run launcher and coordinator."""
    (tmp_path / "dagster.yaml").write_text(text, encoding="utf-8")
    config, _ = dagster_instance_config(str(tmp_path))
    for key in ("run_launcher", "run_coordinator"):
        if key in config:
            ConfigurableClassData(config[key]["module"], config[key]["class"], yaml.dump(config[key].get("config") or {})).rehydrate(object)
    return config


def test_compose_instance_is_valid_postgres_with_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_USER", "dagster")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "dagster")
    config = _check_instance(tmp_path, (DEPLOY / "compose" / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_db"]["hostname"] == "postgres"
    assert config["run_retries"]["enabled"] and config["concurrency"]["pools"]["default_limit"] == 1


def test_compose_services_share_the_instance_and_data_and_workers_take_the_projects_queues():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    app = {name: s for name, s in services.items() if s.get("image") == "animespeech-assets"}
    assert set(app) == {"webserver", "daemon", "worker", "gpu-worker", "watchdog"}
    for s in app.values():
        env = s["environment"]
        assert env[settings.EXECUTOR_ENV] == "celery" and env[settings.BROKER_ENV].startswith("redis://redis:")
        assert "data:/data" in s["volumes"] and env["ANIMESPEECH_DATA_DIR"] == "/data"
        for volume in s["volumes"]:
            source = volume.split(":")[0]
            assert source in compose["volumes"] or (DEPLOY / source).exists(), volume
    queues = {}
    for name in ("worker", "gpu-worker"):
        cmd = services[name]["command"]
        assert cmd[:4] == ["celery", "-A", "animespeech_assets.cluster.celery_app", "worker"]
        queues[name] = set(cmd[cmd.index("-Q") + 1].split(","))
    assert queues == {"worker": {settings.DEFAULT_QUEUE}, "gpu-worker": {settings.DEFAULT_QUEUE, settings.GPU_QUEUE}}
    assert services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert shlex.join(services["watchdog"]["command"]) == "python -m animespeech_assets.cluster.watchdog --by-ping"


# what the chart's templates (helm/dagster/templates/helpers/instance/_run-launcher.tpl, _concurrency.tpl,
# the daemon's run monitoring and retries) write into the instance for the keys these values use
LAUNCHER_KEYS = {"loadInclusterConfig": "load_incluster_config", "imagePullPolicy": "image_pull_policy", "envVars": "env_vars",
                 "volumes": "volumes", "volumeMounts": "volume_mounts", "resources": "resources", "runK8sConfig": "run_k8s_config"}
RUN_K8S_KEYS = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config"}


def _chart_instance(values: dict) -> dict:
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    unknown = set(launcher) - set(LAUNCHER_KEYS)
    assert not unknown, f"keys the chart does not map: {unknown}"
    config = {LAUNCHER_KEYS[k]: v for k, v in launcher.items() if k != "runK8sConfig"}
    config["run_k8s_config"] = {RUN_K8S_KEYS[k]: v for k, v in launcher.get("runK8sConfig", {}).items()}
    config.update(dagster_home="/opt/dagster/dagster_home", instance_config_map="animespeech-dagster-instance",
                  postgres_password_secret="dagster-postgresql-secret", service_account_name="animespeech-dagster", job_namespace="dagster")
    daemon, pools, runs = values["dagsterDaemon"], values["concurrency"]["pools"], values["concurrency"]["runs"]
    return {
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": daemon["runCoordinator"]["type"]},
        "concurrency": {"pools": {"default_limit": pools["defaultLimit"]}, "runs": {"max_concurrent_runs": runs["maxConcurrentRuns"]}},
        "run_monitoring": {"enabled": daemon["runMonitoring"]["enabled"],
                           "free_slots_after_run_end_seconds": daemon["runMonitoring"]["freeSlotsAfterRunEndSeconds"]},
        "run_retries": {"enabled": daemon["runRetries"]["enabled"], "max_retries": daemon["runRetries"]["maxRetries"],
                        "retry_on_asset_or_op_failure": daemon["runRetries"]["retryOnAssetOrOpFailure"]},
    }


def test_helm_values_make_a_valid_k8s_run_launcher_and_instance(tmp_path):
    from dagster_k8s import K8sRunLauncher

    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    instance = _chart_instance(values)
    result = validate_config(K8sRunLauncher.config_type(), instance["run_launcher"]["config"])
    assert result.success, [e.message for e in result.errors]
    launcher = dict(instance.pop("run_launcher"))
    config = _check_instance(tmp_path, yaml.dump(instance))
    assert config["run_retries"]["max_retries"] == 2
    assert "ANIMESPEECH_EXECUTOR=k8s" in launcher["config"]["env_vars"]
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert {"name": settings.EXECUTOR_ENV, "value": "k8s"} in deployment["env"]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "animespeech_assets.definitions"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in deployment["volumes"] + launcher["config"]["volumes"]}
    assert claims == {"animespeech-data"}  # the code server, the run pods and the step pods see one data root


@pytest.mark.parametrize("asset, gpus", [("speaker_embeddings", "1"), ("transcript", "1"), ("episode_audio", None)])
def test_a_gpu_steps_kubernetes_job_asks_for_a_gpu_and_a_cpu_steps_does_not(asset, gpus, monkeypatch):
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    from animespeech_assets.definitions import defs
    from animespeech_assets.defs.executor import deployment_executor

    monkeypatch.setenv(settings.EXECUTOR_ENV, "k8s")
    assert deployment_executor().name == "k8s"
    op = defs.resolve_assets_def(asset).op
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="registry.example.com/animespeech-assets:0.1.0", dagster_home="/opt/dagster/dagster_home",
                            instance_config_map="animespeech-dagster-instance"),
        ["dagster", "api", "execute_step"], f"dagster-step-{asset}", user_defined_k8s_config=get_user_defined_k8s_config(op.tags))
    resources = job.spec.template.spec.containers[0].resources
    limits = (resources.limits if resources else None) or {}
    assert limits.get("nvidia.com/gpu") == gpus
    assert (op.tags.get("dagster-celery/queue") == settings.GPU_QUEUE) == (gpus is not None)


def test_an_unknown_executor_is_a_clear_error(monkeypatch):
    from animespeech_assets.defs.executor import deployment_executor

    monkeypatch.setenv(settings.EXECUTOR_ENV, "ray")
    with pytest.raises(ValueError, match="ANIMESPEECH_EXECUTOR='ray'"):
        deployment_executor()
