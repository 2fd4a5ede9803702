"""Where GPU-bound steps run, in one place: the instance's ``gpu`` pool (one model on a card at a time,
across runs; dagster.yaml sets the limit), the Celery queue the cluster's GPU workers take, and on
Kubernetes (k8s_job_executor, deploy/) a GPU for the step's pod."""

from animespeech_assets.cluster.settings import GPU_QUEUE

GPU_POOL = "gpu"

ON_GPU = {
    "pool": GPU_POOL,
    "op_tags": {
        "dagster-celery/queue": GPU_QUEUE,
        "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
    },
}
