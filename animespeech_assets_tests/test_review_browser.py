"""The review page in a real browser: Debian's Chromium driven by Playwright, against `animespeech
review --refresh` serving predictions of real (Kokoro-spoken) episodes."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pyarrow.parquet as pq
import pytest

from animespeech_assets.cli import main

from .conftest import free_port, truth

pytestmark = pytest.mark.models  # the episodes are spoken by Kokoro and embedded by Resemblyzer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                    found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return found


@pytest.fixture
def review_server(two_episodes):
    layout = two_episodes
    for ep in ("ep1", "ep2"):
        assert main(["materialize", "--episode", ep]) == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "animespeech_assets.cli", "review", "--port", str(port), "--refresh"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/api/state", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield base, port, layout
    proc.terminate()
    proc.wait(10)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (scripts/test.sh installs it)")
def test_label_three_lines_with_the_keyboard_save_and_see_the_refreshed_predictions(review_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, port, layout = review_server
    assert listening_addresses(port) == {"127.0.0.1"}  # bound to loopback only
    lines = {i["line_id"]: i for i in json.loads(urllib.request.urlopen(base + "/api/lines?episode=ep2").read())["items"]}
    true_lines = truth(layout, "ep2")

    def speaker(line_id):  # the true character of a line: the truth row that starts nearest to it
        return min(true_lines, key=lambda t: abs(float(t["start"]) - lines[line_id]["start"]))["character"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.goto(base + "/?episode=ep2")
        page.wait_for_selector("#rows tbody tr.row")
        shown = [int(x) for x in page.locator("#rows tbody tr.row").evaluate_all("rows => rows.map(r => r.dataset.lineId)")]
        assert sorted(shown) == sorted(lines) and len(shown) == 12  # nothing of ep2 is labelled yet
        assert page.locator("#rows tbody tr.row button.play").first.get_attribute("data-src") == f"/audio/ep2/{shown[0]}.wav"

        page.keyboard.press(" ")  # play the first (least certain) line
        page.wait_for_function("() => { const a = document.querySelector('#player'); return a.readyState >= 1 && a.duration > 0 }")
        first = lines[shown[0]]
        assert page.evaluate("document.querySelector('#player').duration") == pytest.approx(first["end"] - first["start"] + 0.3, abs=0.02)

        names = page.locator("#characters li").evaluate_all("items => items.map(li => li.dataset.character)")

        def key_for(line_id):
            return str(names.index(speaker(line_id)) + 1)

        page.keyboard.press(key_for(shown[0]))  # line 1: its character by number
        page.keyboard.press("x")  # line 2: skip
        page.keyboard.press("a")  # line 3: accept the prediction
        page.keyboard.press("e")  # line 4: fix the text, then its character by number
        page.keyboard.press("Control+A")
        page.keyboard.type("直したテキスト")
        page.keyboard.press("Enter")
        page.keyboard.press(key_for(shown[3]))
        assert page.locator("#pending-count").inner_text() == "3"
        page.screenshot(path=os.environ.get("ANIMESPEECH_SCREENSHOT") or str(tmp_path / "review.png"))
        page.keyboard.press("s")
        page.wait_for_selector("#message.ok")
        assert "saved 3 line(s)" in page.locator("#message").inner_text()

        with open(layout.annotation_file("ep2"), encoding="utf-8-sig", newline="") as fh:
            rows = {int(r["line_id"]): r for r in csv.DictReader(fh)}
        expected = {shown[0]: speaker(shown[0]), shown[2]: lines[shown[2]]["predicted"], shown[3]: speaker(shown[3])}
        assert {lid: r["character"] for lid, r in rows.items()} == expected
        assert rows[shown[3]]["text"] == "直したテキスト" and rows[shown[0]]["text"] == ""
        assert float(rows[shown[0]]["start"]) == pytest.approx(lines[shown[0]]["start"], abs=1e-3)

        # the server refreshes the reference set and ep2's predictions; the page shows the new figures
        page.wait_for_function("() => document.querySelector('#message').textContent.includes('predictions refreshed for ep2')",
                               timeout=300_000)
        assert page.locator("#counts span[data-status=labelled]").inner_text() == "labelled 3"
        browser.close()
    ref = pq.read_table(layout.asset_file("reference_set"), columns=["episode", "line_id", "character", "source"]).to_pylist()
    in_ref = {r["line_id"]: (r["character"], r["source"]) for r in ref if r["episode"] == "ep2"}
    assert in_ref == {lid: (c, "label") for lid, c in expected.items()}
