"""Long work says how far it is: a redrawn line on a terminal, and log lines at a sensible rate."""

import io

import dagster as dg
import pytest

from animespeech_assets.cli import main
from animespeech_assets.core.progress import Progress

from .conftest import write_tone_episode


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_lines_come_at_most_every_interval_with_share_and_time_left():
    clock, logged = Clock(), []
    with Progress("speaker embeddings", 10, "lines", logged.append, every=15.0, stream=io.StringIO(), clock=clock) as p:
        for _ in range(10):
            clock.now += 5.0
            p.advance()
    assert logged == [
        "speaker embeddings: 3/10 lines (30%) in 15 s, about 35 s left",
        "speaker embeddings: 6/10 lines (60%) in 30 s, about 20 s left",
        "speaker embeddings: 9/10 lines (90%) in 45 s, about 5 s left",
        "speaker embeddings: 10/10 lines (100%) in 50 s",
    ]


def test_on_a_terminal_one_line_redraws_and_ends_with_a_newline():
    clock, term = Clock(), Terminal()
    with Progress("decoding ep01.mkv", 120, "s of audio", stream=term, clock=clock) as p:
        for _ in range(4):
            clock.now += 30.0
            p.advance(30)
    out = term.getvalue()
    assert out.count("\r") == 5 and out.endswith("decoding ep01.mkv: 120/120 s of audio (100%) in 2 min 00 s\x1b[K\n")
    assert "\rdecoding ep01.mkv: 60/120 s of audio (50%) in 1 min 00 s, about 1 min 00 s left\x1b[K" in out


def test_a_failure_leaves_the_terminal_on_a_new_line_and_logs_no_final_line():
    clock, term, logged = Clock(), Terminal(), []
    with pytest.raises(RuntimeError):
        with Progress("speech recognition", 60, "s", logged.append, stream=term, clock=clock) as p:
            clock.now += 1.0
            p.advance(10)
            raise RuntimeError("boom")
    assert term.getvalue().endswith("\n") and logged == []


def run_log(instance) -> list[str]:
    run = instance.get_runs(limit=1)[0]
    return [e.user_message for e in instance.all_logs(run.run_id)]


def test_decoding_reports_its_progress_in_the_run_log(layout):
    write_tone_episode(layout, "ep01", seconds=6.0)
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio"]) == 0
    messages = run_log(dg.DagsterInstance.get())
    assert any(m.startswith("decoding ep01.mkv: 6/6 s of audio (100%) in ") for m in messages), messages[-5:]


@pytest.mark.models
def test_speaker_embeddings_report_their_progress_in_the_run_log(layout):
    write_tone_episode(layout, "ep01", spoken=True)
    assert main(["materialize", "--episode", "ep01", "--select", "episode_audio,transcript,speaker_embeddings"]) == 0
    messages = run_log(dg.DagsterInstance.get())
    assert any(m.startswith("speaker embeddings: 2/2 lines (100%) in ") for m in messages)
