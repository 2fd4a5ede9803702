"""The Celery app the cluster's workers run (``celery -A animespeech_assets.cluster.celery_app worker``):
dagster-celery's step task, with the broker, result backend and settings the executor uses
(:func:`animespeech_assets.defs.executor.deployment_executor`)."""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from animespeech_assets.cluster.settings import BROKER_ENV, CELERY_SETTINGS, celery_urls

_urls = celery_urls()
if _urls is None:
    raise RuntimeError(f"{BROKER_ENV} is not set: start workers with `animespeech cluster up`")
app = make_app(CeleryExecutor.for_cli(broker=_urls[0], backend=_urls[1], config_source=CELERY_SETTINGS).app_args())
execute_plan = create_task(app)
