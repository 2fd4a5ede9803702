"""The Celery app the cluster's workers run (``celery -A animespeech_assets.cluster.celery_app worker``):
dagster-celery's step task, with the broker, result backend and settings the executor uses
(:func:`animespeech_assets.defs.executor.deployment_executor`); each worker keeps its count of steps
started (:mod:`steps`)."""

from celery import signals
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from animespeech_assets.cluster import steps
from animespeech_assets.cluster.settings import BROKER_ENV, CELERY_SETTINGS, celery_urls

_urls = celery_urls()
if _urls is None:
    raise RuntimeError(f"{BROKER_ENV} is not set: start workers with `animespeech cluster up`")
app = make_app(CeleryExecutor.for_cli(broker=_urls[0], backend=_urls[1], config_source=CELERY_SETTINGS).app_args())
execute_plan = create_task(app)


@signals.worker_ready.connect
def _count_from_zero(sender, **_):
    steps.reset(app, sender.hostname)


@signals.task_prerun.connect  # execute_plan is the app's one task: each is a step
def _count_step(sender, **_):
    steps.record_start(app, sender.request.hostname)
