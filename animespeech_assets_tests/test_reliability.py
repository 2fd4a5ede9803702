"""Abuse that once hurt: 50,000 cues past the end of the audio, one bad pair of files blocking every
episode, an empty recognition result, and `animespeech ui` leaving its children behind."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger

from .conftest import free_port, write_tone_episode


def test_50000_cues_past_the_end_of_the_audio_are_one_summary_not_50000_log_events(layout):
    real = "1\n00:00:01,000 --> 00:00:02,000\nはじめ\n\n2\n00:00:03,000 --> 00:00:04,500\nつぎ\n\n"
    late = "".join(f"{n}\n00:{10 + n // 6000:02d}:{n // 100 % 60:02d},{n % 100 * 10:03d} --> 00:{10 + n // 6000:02d}:"
                   f"{n // 100 % 60:02d},{n % 100 * 10 + 5:03d}\nおそい{n}\n\n" for n in range(3, 50_003))
    write_tone_episode(layout, "ep01", srt=real + late)
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript"]) == 0
    assert pq.read_table(layout.output("transcript", "ep01")).column("text").to_pylist() == ["はじめ", "つぎ"]
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    warnings = [e for e in instance.all_logs(run.run_id) if e.level == "WARNING" or e.level == 30]
    assert 1 <= len(warnings) <= 11 and "and 49990 more warnings like these" in warnings[-1].user_message
    event = instance.get_latest_materialization_event(dg.AssetKey("transcript"))
    assert event.asset_materialization.metadata["dropped_outside_audio"].value == 50_000


def test_two_files_for_one_key_block_only_that_key(layout, capsys):
    write_tone_episode(layout, "ep01")
    (layout.inputs / "ep 02.mkv").write_bytes(b"x")
    (layout.inputs / "ep_02.mkv").write_bytes(b"y")
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript"]) == 0
    assert layout.output("transcript", "ep01").exists()
    assert main(["materialize", "--episode", "ep_02", "--select", "episode_audio"]) == 1
    err = capsys.readouterr().err
    assert "ep 02.mkv and" in err and "ep_02.mkv both map to episode key 'ep_02'" in err


@pytest.mark.models
def test_recognition_that_finds_no_line_is_an_error_and_leaves_nothing(layout, capsys):
    from animespeech_assets.demo.generate import mux

    hiss = np.random.default_rng(0).normal(0, 0.002, (48_000, 2)).astype(np.float32)  # audible, but no speech
    mux(layout.inputs / "quiet.mkv", hiss, [0.0])
    assert main(["materialize", "--episode", "quiet", "--select", "episode_audio,transcript"]) == 1
    assert "quiet.mkv: speech recognition found no usable line in 1.0 s of audio" in capsys.readouterr().err
    assert not layout.output("transcript", "quiet").exists()
    assert Ledger(layout.lineage).latest("transcript", "quiet") is None


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc's children lists)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = {int(x) for x in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_stopping_the_ui_by_its_pid_stops_the_webserver_and_the_daemon(layout):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "animespeech_assets.cli", "ui", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the Dagster UI did not come up within 180 s")
        children = descendants(proc.pid)
        assert len(children) >= 2  # dagster dev, its webserver and daemon
        os.kill(proc.pid, signal.SIGTERM)  # what `kill PID` does
        proc.wait(60)
        deadline = time.time() + 30
        while time.time() < deadline and any(alive(p) for p in children):
            time.sleep(0.5)
        assert [p for p in children if alive(p)] == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_wav_only_episode_still_works(layout):
    """An audio-only input (a radio drama, an extracted track) with an SRT: the track rules apply to it too."""
    sr = 48_000
    t = np.arange(int(6 * sr)) / sr
    sf.write(layout.inputs / "radio.wav", (0.3 * np.sin(2 * np.pi * 300 * t) * ((t > 1) & (t < 2))).astype(np.float32), sr)
    (layout.inputs / "radio.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nはい\n\n", encoding="utf-8")
    assert main(["materialize", "--episode", "radio", "--select", "episode_audio,transcript"]) == 0
    assert pq.read_table(layout.output("transcript", "radio")).column("text").to_pylist() == ["はい"]


def test_four_materialize_processes_at_once_on_a_fresh_instance_lose_nothing(layout):
    for n in range(4):
        write_tone_episode(layout, f"ep{n}")
    cmd = [sys.executable, "-m", "animespeech_assets.cli"]
    procs = [subprocess.Popen(cmd + ["materialize", "--episode", f"ep{n}", "--select", "episode_audio,transcript"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    readers = []
    while any(p.poll() is None for p in procs):  # lineage read while the runs write it
        readers.append(subprocess.run(cmd + ["lineage", "sql", "SELECT count(*) FROM lineage"], capture_output=True, text=True))
    outputs = [p.communicate() for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]
        assert "database is locked" not in err and "already exists" not in err
    assert readers and all(r.returncode == 0 for r in readers), [r.stderr[-500:] for r in readers if r.returncode]
    records = Ledger(layout.lineage).records()
    pairs = sorted((r["asset"], r["partition"]) for r in records)
    assert pairs == sorted((a, f"ep{n}") for n in range(4) for a in ("episode_audio", "transcript"))
    runs = dg.DagsterInstance.get().get_runs()
    assert len(runs) == 4 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}


def test_lineage_verify_finds_missing_changed_orphan_and_temporary_files_and_fix_removes_only_those(layout, capsys):
    write_tone_episode(layout, "ep01")
    layout.annotation_file("ep01").write_text("line_id,character\n1,A\n", encoding="utf-8")
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript"]) == 0
    capsys.readouterr()
    assert main(["lineage", "verify"]) == 0
    assert "2 current lineage records checked" in capsys.readouterr().out
    human = {p: p.read_bytes() for p in (layout.inputs / "ep01.mkv", layout.inputs / "ep01.srt", layout.annotation_file("ep01"))}
    transcript = layout.output("transcript", "ep01")
    transcript.write_bytes(transcript.read_bytes() + b"x")  # changed behind the lineage's back
    layout.output("episode_audio", "ep01").unlink()
    orphan = layout.asset_file("transcript", "old_episode")
    orphan.write_bytes(b"left from a removed episode")
    temp = layout.asset_dir("transcript") / ".ep01.parquet.abc123.tmp"
    temp.write_bytes(b"half")
    killed = layout.exports / "audio" / ".Aya.old-4242"
    killed.mkdir(parents=True)
    (killed / "clips.parquet").write_bytes(b"old")
    assert main(["lineage", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [m.split(": ")[0] for m in report["missing"]] == ["episode_audio [ep01]"]
    assert [c.split(": ")[0] for c in report["changed"]] == ["transcript [ep01]"]
    assert report["orphans"] == [str(orphan)] and sorted(report["temporary"]) == sorted([str(temp), str(killed)])
    assert main(["lineage", "verify", "--fix"]) == 1  # missing and changed outputs remain: rerun the assets
    assert not orphan.exists() and not temp.exists() and not killed.exists()
    assert {p: p.read_bytes() for p in human} == human
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript"]) == 0
    assert main(["lineage", "verify"]) == 0


def _dead_process_tag() -> str:
    """The process tag of a process that ran and is gone (as after ``kill -9``)."""
    import psutil

    from animespeech_assets.defs.run_hygiene import PROCESS_TAG

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    started = psutil.Process(child.pid).create_time()
    child.kill()
    child.wait()
    return {PROCESS_TAG: f"{os.uname().nodename}:{child.pid}:{started:.3f}"}


def test_a_killed_run_does_not_block_the_gpu_pool_for_later_runs(layout, capsys):
    """A run killed in a pool="gpu" step leaves it "Started" with the slot claimed; the next CLI run
    marks it failed, frees the slot and runs (before, it waited forever, spinning a core)."""
    from dagster._core.storage.dagster_run import DagsterRun

    write_tone_episode(layout, "ep01")
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio"]) == 0
    instance = dg.DagsterInstance.get()
    killed = DagsterRun(job_name="episode_job", run_id="0" * 8 + "-dead-run", status=dg.DagsterRunStatus.STARTED, tags=_dead_process_tag())
    instance.add_run(killed)
    instance.event_log_storage.initialize_concurrency_limit_to_default("gpu")  # as a run's first gpu step does
    assert instance.event_log_storage.claim_concurrency_slot("gpu", killed.run_id, "transcript", 0).is_claimed
    capsys.readouterr()
    assert main(["materialize", "--episode", "ep01", "--select", "transcript"]) == 0
    err = capsys.readouterr().err
    assert f"run {killed.run_id} (episode_job) was left unfinished by process" in err
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert killed.run_id not in instance.event_log_storage.get_concurrency_run_ids()
    assert pq.read_table(layout.output("transcript", "ep01")).column("text").to_pylist() == ["はじめ", "つぎ"]


def test_a_step_queued_just_as_the_slot_was_freed_gets_the_slot(layout):
    """Dagster's race, replayed step by step on the real storage: run B finds no free slot, run A
    frees its slot (handing it to a queue B is not in yet), B queues unassigned. Dagster alone leaves
    B waiting for ever with the slot free (seen as a hung CLI among four on a fresh instance);
    assign_stranded_claims gives it the slot, and does nothing when nothing is stranded."""
    from animespeech_assets.defs.run_hygiene import assign_stranded_claims

    main(["scan"])  # creates the instance
    instance = dg.DagsterInstance.get()
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("gpu")
    assert storage.claim_concurrency_slot("gpu", "run-a", "speaker_embeddings", 0).is_claimed
    assert not storage.has_unassigned_slots("gpu")  # B's claim, first half: no free slot
    storage.free_concurrency_slot_for_step("run-a", "speaker_embeddings")  # A ends its step
    storage.add_pending_step("gpu", "run-b", "transcript", 0, should_assign=False)  # B's claim, second half
    stuck = storage.claim_concurrency_slot("gpu", "run-b", "transcript", 0)
    assert not stuck.is_claimed and not stuck.is_assigned and storage.has_unassigned_slots("gpu")
    assert assign_stranded_claims(instance, ["gpu"]) == ["gpu"]
    assert storage.claim_concurrency_slot("gpu", "run-b", "transcript", 0).is_claimed
    assert assign_stranded_claims(instance, ["gpu"]) == []  # the slot is taken: nothing to hand out


def test_a_run_waits_for_a_live_holder_of_the_pool_and_says_so(layout):
    import threading

    from dagster._core.storage.dagster_run import DagsterRun

    from animespeech_assets.defs.run_hygiene import process_tags, wait_for_pools

    main(["scan"])  # creates the instance
    instance = dg.DagsterInstance.get()
    live = DagsterRun(job_name="episode_job", run_id="1" * 8 + "-live-run", status=dg.DagsterRunStatus.STARTED, tags=process_tags())
    instance.add_run(live)
    instance.event_log_storage.initialize_concurrency_limit_to_default("gpu")
    assert instance.event_log_storage.claim_concurrency_slot("gpu", live.run_id, "transcript", 0).is_claimed
    said = []
    timer = threading.Timer(1.5, instance.event_log_storage.free_concurrency_slot_for_step, (live.run_id, "transcript"))
    timer.start()
    start = time.monotonic()
    wait_for_pools(instance, {"gpu"}, said.append, poll=0.2)
    assert time.monotonic() - start >= 1.4
    assert said == [f"waiting for a free slot of pool 'gpu' (limit 1), held by run {live.run_id} (transcript)"]
    assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED  # a live run is left alone


def test_the_next_write_removes_what_a_killed_writer_left_and_keeps_a_live_writers_file(tmp_path):
    from animespeech_assets.core.storage import write_text

    target = tmp_path / "ep 01[1].json"
    dead_pid = int(_dead_process_tag()["animespeech/process"].split(":")[1])
    stale_file = tmp_path / f".{target.name}.{dead_pid}.k3j2.tmp"
    stale_dir = tmp_path / f".{target.name}.old-{dead_pid}"
    live_file = tmp_path / f".{target.name}.{os.getpid()}.x9.tmp"
    other = tmp_path / f".ep 01[1].jsonl.{dead_pid}.a.tmp"  # another file's temporary
    for p in (stale_file, live_file, other):
        p.write_text("half")
    stale_dir.mkdir()
    write_text('{"ok": 1}', target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live_file.name, other.name])
    assert json.loads(target.read_text()) == {"ok": 1}


def test_the_daemon_marks_a_killed_cli_run_failed_without_waiting_for_the_next_run(layout):
    """The UI must not show a killed run as "Started" forever: the dead-runs sensor reaps it."""
    from dagster._core.storage.dagster_run import DagsterRun

    from animespeech_assets.defs.sensors import dead_runs_sensor

    main(["scan"])
    instance = dg.DagsterInstance.get()
    killed = DagsterRun(job_name="episode_job", run_id="2" * 8 + "-dead-run", status=dg.DagsterRunStatus.STARTED, tags=_dead_process_tag())
    instance.add_run(killed)
    instance.event_log_storage.initialize_concurrency_limit_to_default("gpu")
    assert instance.event_log_storage.claim_concurrency_slot("gpu", killed.run_id, "speaker_embeddings", 0).is_claimed
    result = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert f"run {killed.run_id} (episode_job) was left unfinished by process" in result.skip_message
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert killed.run_id not in instance.event_log_storage.get_concurrency_run_ids()
    again = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert again.skip_message == "no run left behind by a dead process"


@pytest.mark.models
def test_kill_drill_two_real_kills_mid_run_leave_nothing_partial_and_the_next_run_clean(tmp_path):
    """The kill drill (benchmarks/kill_drill.py) with two real SIGKILLs, each just after a step started
    (the embeddings, then the predictions, which run after the reference set in a second run)."""
    out = tmp_path / "kill_drill.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.kill_drill", "--during", "speaker_embeddings,character_predictions",
                           "--work", str(tmp_path / "work"),
                           "--output", str(out)], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["kills"] == 2 and report["ok"] == 2 and report["killed_mid_run"] == 2
    for run in report["runs"]:
        assert run["after_kill"]["partial"] == [] and run["after_kill"]["missing"] == [] and run["after_kill"]["changed"] == []
        assert run["next_run_exit"] == 0 and run["killed_runs_left_started"] == []
        assert run["after_next_run"]["temporary_left"] == 0 and run["after_next_run"]["orphans"] == []
    # the first kill lands inside the embeddings (seconds long); character_predictions takes a fraction
    # of a second, so on a loaded machine the second kill can land in a step after it: any step of that run
    first, second = (run["running"] for run in report["runs"])
    assert first == "episode_job: speaker_embeddings"
    later = ("character_predictions", "annotated_lines", "dialogue_turns", "character_clips", "review_sheet")
    assert second.startswith("episode_job: ") and second.split(": ")[1].split(", ")[0] in later
    assert report["runs"][0]["after_kill"]["files_checked"] > 10


def test_lineage_verify_counts_a_characters_whole_export_folder_as_its_assets(layout):
    """Every file of a character's audio dataset (wavs/, metadata.csv, esd.list, hf/) belongs to the
    audio_dataset record of that character; a folder of a character with no record is an orphan."""
    from animespeech_assets.core.lineage import LineageRecord, utcnow
    from animespeech_assets.core.storage import sha256_file
    from animespeech_assets.provenance.verify import verify

    folder = layout.folder("audio_dataset", "Mei")
    for name in ("clips.parquet", "metadata.csv", "esd.list", "wavs/demo_ep01_00002.wav", "hf/metadata.csv"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())
    primary = layout.output("audio_dataset", "Mei")
    now = utcnow()
    Ledger(layout.lineage).write(LineageRecord("audio_dataset", "Mei", "run", "2", sha256_file(primary), 1, [str(primary)], now, now))
    stale = layout.folder("audio_dataset", "Gone") / "metadata.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("x")
    report = verify(layout)
    assert report.orphans == [stale] and report.missing == [] and report.changed == []
