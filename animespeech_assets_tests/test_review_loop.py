"""The human-in-the-loop cycle as a user walks it: predict, review, correct, and let the sensors and
automation refresh only what depends on the labels."""

import csv

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.storage import sha256_file
from animespeech_assets.definitions import defs
from animespeech_assets.defs.automation import annotations_sensor, nightly_refinement
from animespeech_assets.defs.resources import DataResource
from animespeech_assets.demo.generate import generate_episode
from animespeech_assets.demo.script import EPISODES
from animespeech_assets.speakers.embeddings import vectors_of

from .conftest import truth

pytestmark = pytest.mark.models  # every test here loads a real model

UPSTREAM = ("episode_audio", "transcript", "speaker_embeddings")


def counts(layout, assets):
    ledger = Ledger(layout.lineage)
    return {a: len(ledger.records(a)) for a in assets}


def run_automation(instance, cursor=None, ticks=3):
    """Evaluate the automation conditions as the automation sensor would and run what they request."""
    episode_job = defs.resolve_job_def("episode_job")
    requested_total = {}
    for _ in range(ticks):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = result.cursor
        if not result.total_requested:
            break
        by_episode = {}
        for key in episode_job.asset_layer.asset_graph.get_all_asset_keys():
            for partition in result.get_requested_partitions(key):
                by_episode.setdefault(partition, []).append(key)
                requested_total.setdefault(key.to_user_string(), set()).add(partition)
        for episode, keys in sorted(by_episode.items()):
            assert episode_job.execute_in_process(instance=instance, partition_key=episode, asset_selection=keys).success
    return requested_total, cursor


def test_corrections_refine_the_reference_and_refresh_only_what_depends_on_labels(two_episodes):
    layout = two_episodes
    generate_episode(layout, "ep3", EPISODES["demo_ep02"][1:2], seed=4)
    instance = dg.DagsterInstance.get()
    for ep in ("ep2", "ep3"):
        assert main(["materialize", "--episode", ep]) == 0
    _, cursor = run_automation(instance)  # settle: the automation's first look at the graph
    upstream_before = counts(layout, UPSTREAM)
    ep3_before = sha256_file(layout.asset_file("character_predictions", "ep3"))
    # the sensor's first look: ep1's labels are already in the reference set, nothing to request
    assert isinstance(annotations_sensor(dg.build_sensor_context(instance=instance, resources={"data": DataResource()})), dg.SkipReason)

    # the reviewer opens ep2's sheet, least certain first, and fills in the first six lines
    with open(layout.review / "ep2.csv", encoding="utf-8-sig", newline="") as fh:
        sheet = list(csv.DictReader(fh))
    assert [r["status"] for r in sheet] == sorted((r["status"] for r in sheet), key=["unknown", "uncertain", "certain"].index)
    assert all((layout.review / r["clip"]).exists() for r in sheet)
    by_start = {round(float(t["start"]), 3): t for t in truth(layout, "ep2")}
    corrected = sheet[:6]
    for r in corrected:
        r["character"] = by_start[round(float(r["start"]), 3)]["character"]
    corrected[0]["text"] = "直したテキスト 123 ABC"
    with open(layout.annotation_file("ep2"), "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(sheet[0]))
        writer.writeheader()
        writer.writerows(corrected)

    # the annotations sensor notices the new file and asks for the reference set
    ctx = dg.build_sensor_context(instance=instance, resources={"data": DataResource()}, cursor=None)
    request = annotations_sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    assert isinstance(annotations_sensor(dg.build_sensor_context(instance=instance, resources={"data": DataResource()}, cursor=ctx.cursor)), dg.SkipReason)
    # "hard" = the line's own character's nearest label sample is farther than a threshold (0.2 by
    # default; the demo voices are easy, so the test puts it between the corrected lines' distances)
    labels_ref = pq.read_table(layout.asset_file("reference_set"))
    _, label_vectors = vectors_of(labels_ref)
    label_chars = np.asarray(labels_ref.column("character").to_pylist())
    emb = pq.read_table(layout.asset_file("speaker_embeddings", "ep2"))
    _, vectors = vectors_of(emb)
    vector_of = dict(zip(emb.column("line_id").to_pylist(), vectors))
    nearest = {int(r["line_id"]): float((1 - label_vectors[label_chars == r["character"]] @ vector_of[int(r["line_id"])]).min()) for r in corrected}
    ordered = sorted(nearest.values())
    threshold = (ordered[2] + ordered[3]) / 2
    config = {"ops": {"reference_set": {"config": {"refinement_min_distance": threshold}}}}
    assert defs.resolve_job_def("shared_job").execute_in_process(instance=instance, run_config=config, tags=request.tags).success

    # reviewed rows joined the reference set only where they were hard, with recomputed distances
    ref = pq.read_table(layout.asset_file("reference_set")).to_pylist()
    refinement = [r for r in ref if r["source"] == "refinement"]
    assert {r["episode"] for r in ref if r["source"] == "label"} == {"ep1"}
    assert {r["line_id"] for r in refinement} == {lid for lid, d in nearest.items() if d > threshold}
    for r in refinement:  # distances recomputed against the labels now, not copied from the sheet
        assert r["episode"] == "ep2" and abs(r["refinement_distance"] - nearest[r["line_id"]]) < 1e-5
    assert len({(r["episode"], r["line_id"]) for r in ref}) == len(ref)  # nothing added twice

    # automation refreshes predictions and everything below them, for every episode
    requested, _ = run_automation(instance, cursor)
    assert requested["character_predictions"] == {"ep1", "ep2", "ep3"}
    assert {"annotated_lines", "dialogue_turns", "character_clips", "review_sheet"} <= set(requested)
    assert not set(requested) & set(UPSTREAM)
    assert counts(layout, UPSTREAM) == upstream_before  # no decoding, recognition or embedding again

    lines = {r["line_id"]: r for r in pq.read_table(layout.asset_file("annotated_lines", "ep2")).to_pylist()}
    for r in corrected:
        row = lines[int(r["line_id"])]
        assert row["character_source"] == "human" and row["character"] == r["character"]
    assert lines[int(corrected[0]["line_id"])]["text"] == "直したテキスト 123 ABC"
    assert lines[int(corrected[0]["line_id"])]["text_source"] == "human"
    # the new reference samples change the third episode's predictions (distances, neighbours)
    assert sha256_file(layout.asset_file("character_predictions", "ep3")) != ep3_before


def test_nightly_run_with_nothing_changed_requests_and_rewrites_nothing(two_episodes):
    layout = two_episodes
    assert main(["materialize", "--episode", "ep2"]) == 0
    instance = dg.DagsterInstance.get()
    _, cursor = run_automation(instance)
    before = {p: p.stat().st_mtime_ns for p in layout.assets.rglob("*.parquet")}
    records = len(Ledger(layout.lineage).records())
    ctx = dg.build_schedule_context(instance=instance, resources={"data": DataResource()})
    assert isinstance(nightly_refinement(ctx), dg.SkipReason)
    requested, _ = run_automation(instance, cursor)
    assert requested == {}
    assert {p: p.stat().st_mtime_ns for p in layout.assets.rglob("*.parquet")} == before
    assert len(Ledger(layout.lineage).records()) == records
    # a changed label file makes the same schedule rebuild the reference set
    with open(layout.annotation_file("ep1"), "a", encoding="utf-8") as fh:
        last = pq.read_table(layout.asset_file("transcript", "ep1")).to_pylist()[-1]
        fh.write(f"{last['start']},{last['end']},{truth(layout, 'ep1')[-1]['character']}\n")
    assert isinstance(nightly_refinement(dg.build_schedule_context(instance=instance, resources={"data": DataResource()})), dg.RunRequest)
