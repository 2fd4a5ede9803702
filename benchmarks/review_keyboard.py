"""How fast a person can label on the review page with the keyboard alone.

A copy of a data root with predictions (default `data/`, after `animespeech demo`) is served by the
review server; Debian's Chromium (Playwright) labels N lines with one key each (`a`, accept, or the
number of the line's true character when the demo's ground truth is there), waiting `--listen`
seconds on each line as a person listening to the start of the clip would. Measured: how long the
page takes from a key press until the next line is selected and its clip is loaded and playing
(the page's share of the work), the save, and the total for N lines. Run:
`python -m benchmarks.review_keyboard [--data data] [--lines 20] [--listen 1.5]`;
results in `benchmarks/results/review_keyboard.json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
READY = """() => { const a = document.querySelector('#player'); const cur = document.querySelector('tr.current');
  return cur && a.currentSrc.endsWith(cur.querySelector('button.play').dataset.src) && a.readyState >= 3 && !a.paused }"""


def main() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from animespeech_assets.core.layout import DataLayout
    from animespeech_assets.review_app.commands import allowed_hosts
    from animespeech_assets.review_app.server import create_app

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--lines", type=int, default=20)
    p.add_argument("--listen", type=float, default=1.5, help="seconds a person listens to each line before the key")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        for part in ("assets", "annotations", "demo"):
            if (args.data / part).exists():
                shutil.copytree(args.data / part, root / part, ignore=shutil.ignore_patterns("*.wav"))
        layout = DataLayout(root)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        server = uvicorn.Server(uvicorn.Config(create_app(layout, allowed_hosts("127.0.0.1")), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        truth = _truth(layout)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#rows tbody tr.row")
            page.keyboard.press(" ")
            page.wait_for_function(READY)
            first_clip = time.perf_counter() - t0
            names = page.locator("#characters li").evaluate_all("items => items.map(li => li.dataset.character)")
            latencies, keys = [], []
            start = time.perf_counter()
            for _ in range(args.lines):
                time.sleep(args.listen)
                row = page.locator("tr.current")
                key = _key(truth, row.get_attribute("data-episode"), float(row.locator("td.num").nth(1).inner_text().split("–")[0]), names)
                t = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_function(READY)
                latencies.append(time.perf_counter() - t)
                keys.append(key)
            t = time.perf_counter()
            page.keyboard.press("s")
            page.wait_for_selector("#message.ok")
            save_s = time.perf_counter() - t
            total = time.perf_counter() - start
            browser.close()
        server.should_exit = True
        saved = sum(1 for f in layout.annotations.glob("*.csv") for _ in csv.DictReader(open(f, encoding="utf-8-sig")))
    result = {
        "lines": args.lines, "listen_s": args.listen, "page_open_to_first_clip_playing_s": round(first_clip, 3),
        "key_to_next_clip_playing_ms": {"median": round(1000 * statistics.median(latencies), 1),
                                        "p95": round(1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], 1),
                                        "max": round(1000 * max(latencies), 1)},
        "save_s": round(save_s, 3), "total_s": round(total, 2), "lines_per_minute": round(60 * args.lines / total, 1),
        "keys": "".join(keys), "annotation_rows_after_save": saved,
    }
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review_keyboard.json").write_text(json.dumps(result, indent=1) + "\n")


def _truth(layout) -> dict[str, list[dict]]:
    out = {}
    for f in sorted(layout.demo.glob("*.truth.csv")) if layout.demo.exists() else []:
        with open(f, encoding="utf-8") as fh:
            out[f.name.removesuffix(".truth.csv")] = list(csv.DictReader(fh))
    return out


def _key(truth, episode: str, start: float, names: list[str]) -> str:
    """The number key of the line's true character (the demo's ground truth), else `a` (accept)."""
    rows = truth.get(episode)
    if not rows:
        return "a"
    character = min(rows, key=lambda t: abs(float(t["start"]) - start))["character"]
    return str(names.index(character) + 1) if character in names[:9] else "a"


if __name__ == "__main__":
    main()
