"""The asset graph as reviewed: a change to keys, deps, partitions, code versions, pools, automation
conditions, checks, tags or step tags shows up here as a diff of ``snapshots/asset_graph.json``.

After an intended change: ``ANIMESPEECH_UPDATE_SNAPSHOTS=1 pytest animespeech_assets_tests/test_asset_graph.py``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from animespeech_assets.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        condition = node.automation_condition
        out[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": getattr(node.partitions_def, "name", None) if node.partitions_def else None,
            "code_version": node.code_version,
            "group": node.group_name,
            "pools": sorted(node.pools or []),
            "automation_condition": condition.get_label() or type(condition).__name__ if condition else None,
            "checks": sorted(c.name for c in node.check_keys),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/kind/")},  # e.g. what it reads
            "step_tags": dict(sorted(defs.resolve_assets_def(key).op.tags.items())),  # where its step runs: Celery queue, Kubernetes GPU
        }
    jobs = {job.name: sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys) for job in defs.resolve_all_job_defs()
            if not job.name.startswith("__")}
    return {"assets": out, "jobs": jobs}


def test_asset_graph_matches_the_reviewed_snapshot():
    current = graph_snapshot()
    if os.environ.get("ANIMESPEECH_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == expected


def test_loading_the_code_location_imports_no_model_library():
    """The definitions import nothing heavy, so where caches live is settled before any model
    library reads its environment (no import-order tricks needed)."""
    code = ("import sys, animespeech_assets.definitions; "
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
