"""Many workers on one Dagster instance: ``animespeech cluster up|status|down`` and ``backfill``.

``settings`` (ports, URLs, the instance and Celery settings), ``services`` (starting and stopping the
processes, no Dagster import), ``celery_app`` (what the workers run), ``recovery`` and ``watchdog``
(a dead worker's steps run again), ``steps`` (each worker's count of steps), ``backfill`` (a Dagster backfill through the instance), ``commands``.
"""
