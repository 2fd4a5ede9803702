"""The review page's server and its saving, on a small episode written as the pipeline writes it
(predictions + decoded audio), served by a real uvicorn on 127.0.0.1."""

import csv
import io
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE
from animespeech_assets.core.storage import write_npy, write_parquet
from animespeech_assets.review_app.commands import allowed_hosts
from animespeech_assets.review_app.queue import EpisodeFiles, page_data
from animespeech_assets.review_app.saving import Change, SaveConflict, history_folder, save
from animespeech_assets.speakers.annotations import match, read_annotations
from animespeech_assets.speakers.predictions import PREDICTIONS_SCHEMA

from .conftest import free_port

LINES = [  # line_id, start, end, predicted, status, distance
    (0, 0.5, 1.5, "Aya", "certain", 0.10),
    (1, 2.0, 3.0, "Ren", "uncertain", 0.31),
    (2, 3.5, 4.2, None, "unknown", None),
    (3, 5.0, 6.5, "Aya", "certain", 0.18),
    (4, 7.0, 7.8, "Ren", "unknown", 0.52),
]


def write_episode(layout, key="ep1"):
    rows = [
        {"line_id": lid, "start": s, "end": e, "text": f"せりふ{lid}", "character": None if st == "unknown" else p,
         "distance": d, "status": st, "predicted_character": p, "runner_up": None, "margin": None,
         "neighbours": [{"character": "Aya", "distance": 0.1, "episode": key, "line_id": 0}] if p else [], "embedding_status": "ok"}
        for lid, s, e, p, st, d in LINES
    ]
    table = pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA)
    write_parquet(table, layout.output("character_predictions", key))
    t = np.arange(int(9.0 * ANALYSIS_SAMPLE_RATE)) / ANALYSIS_SAMPLE_RATE
    write_npy((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), layout.output("episode_audio", key))
    return table


def test_page_lists_least_certain_first_with_clip_urls(layout):
    write_episode(layout)
    data = page_data(EpisodeFiles(layout), "ep1")
    assert [(i["line_id"], i["status"]) for i in data["items"]] == [
        (2, "unknown"), (4, "unknown"), (1, "uncertain"), (3, "certain"), (0, "certain"),
    ]
    assert data["items"][1]["clip"] == "/audio/ep1/4.wav"  # no embedding (no distance) comes first
    assert data["items"][1]["neighbours"][0]["clip"] == "/audio/ep1/0.wav"
    assert data["counts"]["status"] == {"unknown": 2, "uncertain": 1, "certain": 2}
    assert data["characters"][:2] == ["Aya", "Ren"]  # Aya is predicted more often


def test_saving_merges_by_line_keeps_the_previous_version_and_the_pipeline_reads_it(layout):
    table = write_episode(layout)
    path = layout.annotation_file("ep1")
    # the person's own file: a time-based row for line 1, a blank row, a row that matches no line
    original = "start,end,character,text\r\n2.05,2.95,Ren,\r\n3.5,4.2,,\r\n30.0,31.0,Mio,\r\n"
    path.write_text(original, encoding="cp932")
    before = path.read_bytes()
    result = save(layout, "ep1", table, [Change(2, "Mio", text="直した"), Change(0, "Aya", confirmed=True), Change(1, "Ren", seen="Ren")])
    history = sorted(history_folder(layout).glob("ep1.*.csv"))
    assert len(history) == 1 and history[0].read_bytes() == before == result.history.read_bytes()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    # the unmatched row is kept as written; line 1's row and line 2's blank row are replaced by the new rows
    assert [(r["start"], r["character"], r["text"], r.get("status", "")) for r in rows] == [
        ("30.0", "Mio", "", ""), ("0.500", "Aya", "", "certain"), ("2.000", "Ren", "", ""), ("3.500", "Mio", "直した", ""),
    ]
    reviewed = {a.character + str(a.start): a.reviewed for a in read_annotations(path)}
    assert reviewed["Aya0.5"] is True and reviewed["Mio3.5"] is False  # a bulk accept is a confirmation, a pick a label
    # a second save on top keeps the first one's rows for other lines, and one more history file
    save(layout, "ep1", table, [Change(4, "Ren")])
    labels = {a.line_id: a for a in _labels(path, table)}
    assert {lid: lab.character for lid, lab in labels.items()} == {0: "Aya", 1: "Ren", 2: "Mio", 4: "Ren"}
    assert labels[2].text == "直した"
    assert len(list(history_folder(layout).glob("ep1.*.csv"))) == 2


def _labels(path, table):
    found, _ = match(read_annotations(path), table, path)
    return found


def test_a_line_changed_since_the_page_loaded_it_is_a_conflict_and_nothing_is_written(layout):
    table = write_episode(layout)
    save(layout, "ep1", table, [Change(1, "Ren")])  # tab A saves
    path = layout.annotation_file("ep1")
    before = path.read_bytes()
    with pytest.raises(SaveConflict, match=r"changed since you opened it \(line 1: now 'Ren', you saw ''\)"):
        save(layout, "ep1", table, [Change(1, "Aya", seen="")])  # tab B loaded before A saved
    assert path.read_bytes() == before and len(list(history_folder(layout).glob("*.csv"))) == 0
    save(layout, "ep1", table, [Change(1, "Ren", seen=""), Change(3, "Aya")])  # same answer, another line: merged
    assert {lab.line_id: lab.character for lab in _labels(path, table)} == {1: "Ren", 3: "Aya"}
    with pytest.raises(ValueError, match=r"ep1: no line\(s\) \[99\]"):
        save(layout, "ep1", table, [Change(99, "Aya")])


@pytest.fixture
def server(layout):
    import uvicorn

    from animespeech_assets.review_app.server import create_app

    write_episode(layout)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(layout, allowed_hosts("127.0.0.1")), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", layout
    srv.should_exit = True
    thread.join(5)


def request(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_server_serves_the_page_lines_and_wav_clips_cut_from_the_episode_audio(server):
    base, _ = server
    status, headers, body = request(base + "/")
    assert status == 200 and b'<script src="/static/app.js">' in body
    status, _, body = request(base + "/static/app.js")
    assert status == 200 and b"function save()" in body
    status, _, body = request(base + "/api/lines?episode=ep1")
    assert status == 200 and [i["line_id"] for i in json.loads(body)["items"]] == [2, 4, 1, 3, 0]
    status, headers, body = request(base + "/audio/ep1/1.wav")
    assert status == 200 and headers["content-type"] == "audio/wav"
    audio, sr = sf.read(io.BytesIO(body))
    assert sr == ANALYSIS_SAMPLE_RATE and len(audio) == round((1.0 + 2 * 0.15) * sr)  # the line with 0.15 s either side
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("path, code", [
    ("/audio/ep1/77.wav", 404), ("/audio/..%2Fetc/1.wav", 404), ("/audio/ep%2F..%2F..%2Fx/1.wav", 404),
    ("/api/lines?episode=../../etc", 404), ("/api/lines?episode=nope", 404), ("/audio/ep1/x.wav", 404),
])
def test_requests_for_unknown_episodes_and_lines_never_reach_the_file_system(server, path, code):
    base, _ = server
    status, _, body = request(base + path)
    assert status == code


def test_saves_only_from_the_page_s_own_origin_as_json(server):
    base, layout = server
    body = json.dumps({"episode": "ep1", "changes": [{"line_id": 2, "character": "Mio", "seen": ""}]}).encode()
    json_type = {"Content-Type": "application/json"}
    assert request(base + "/api/save", body, json_type)[0] == 403  # no Origin: not from a page
    assert request(base + "/api/save", body, {**json_type, "Origin": "http://evil.example"})[0] == 403
    assert request(base + "/api/save", body, {"Content-Type": "text/plain", "Origin": base})[0] == 415  # a form post
    assert request(base + "/api/lines", headers={"Host": "evil.example"})[0] == 400  # DNS rebinding
    assert not layout.annotation_file("ep1").exists()
    bad = json.dumps({"episode": "ep1", "changes": [{"line_id": 2, "character": "../.."}]}).encode()
    status, _, reply = request(base + "/api/save", bad, {**json_type, "Origin": base})
    assert status == 400 and "not usable" in json.loads(reply)["error"]
    status, _, reply = request(base + "/api/save", body, {**json_type, "Origin": base})
    assert status == 200 and json.loads(reply)["labelled"] == 1
    assert [(a.line_id, a.character) for a in read_annotations(layout.annotation_file("ep1"))] == [(2, "Mio")]
    again = json.dumps({"episode": "ep1", "changes": [{"line_id": 2, "character": "Aya", "seen": ""}]}).encode()
    status, _, reply = request(base + "/api/save", again, {**json_type, "Origin": base})
    assert status == 409 and "changed since you opened it" in json.loads(reply)["error"]
    assert [(a.line_id, a.character) for a in read_annotations(layout.annotation_file("ep1"))] == [(2, "Mio")]
