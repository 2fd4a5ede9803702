"""How fast `lineage why` answers on a large dataset: 10,000 dialogue rows over 20 episodes.

The tables and lineage records are written the way the pipeline writes them (the same schemas,
`Ledger` records and kept versions), with synthetic content, so the figure is about the lookup,
not the models. Run: `python -m benchmarks.lineage_why [--rows 10000]`; results in
`benchmarks/results/lineage_why.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.lineage import InputVersion, Ledger, LineageRecord, utcnow
from animespeech_assets.core.storage import sha256_file, write_parquet
from animespeech_assets.core.versions import VersionStore
from animespeech_assets.datasets.formats import write_dialogue
from animespeech_assets.provenance.why import explain

CHARACTERS = ("Sakura", "Haruto", "Mei", "Yuki")
RESULTS = Path(__file__).parent / "results"


def _record(layout: DataLayout, asset: str, partition: str, path: Path, inputs: list[InputVersion], rows: int) -> InputVersion:
    digest = sha256_file(path)
    now = utcnow()
    Ledger(layout.lineage).write(LineageRecord(asset, partition, "bench", "1", digest, rows, [str(path)], now, now, inputs=inputs))
    VersionStore(layout.versions).keep(asset, partition, digest, [path] + ([path.parent] if asset == "dialogue_dataset" else []))
    return InputVersion(asset, partition or "__all__", digest, str(path))


def build(layout: DataLayout, rows: int, episodes: int = 20) -> Path:
    rng = random.Random(0)
    per_episode = rows // episodes
    ref_rows = [{"character": c, "episode": "ep00", "line_id": i, "start": 0.0, "end": 1.0, "source": "label",
                 "refinement_distance": None, "vector": [0.0] * 4} for i, c in enumerate(CHARACTERS * 8)]
    ref_path = layout.output("reference_set")
    write_parquet(pa.Table.from_pylist(ref_rows), ref_path)
    ref = _record(layout, "reference_set", "", ref_path, [], len(ref_rows))
    turns_inputs, samples = [], []
    for e in range(episodes):
        ep = f"ep{e:02d}"
        lines = [{"line_id": i, "start": i * 3.0, "end": i * 3.0 + 2.0, "text": f"台詞{e}-{i}", "raw_text": f"台詞{e}-{i}",
                  "source": "subtitles", "cue": i} for i in range(1, 2 * per_episode + 2)]
        write_parquet(pa.Table.from_pylist(lines), layout.output("transcript", ep))
        tr = _record(layout, "transcript", ep, layout.output("transcript", ep), [InputVersion("", ep, "x" * 64, f"/inputs/{ep}.srt")], len(lines))
        preds = [{"line_id": r["line_id"], "start": r["start"], "end": r["end"], "character": CHARACTERS[r["line_id"] % 4],
                  "distance": rng.random() * 0.3, "status": "certain", "predicted_character": CHARACTERS[r["line_id"] % 4],
                  "runner_up": "Mei", "margin": 0.1,
                  "neighbours": [{"character": "Sakura", "distance": 0.1, "episode": "ep00", "line_id": k} for k in range(5)]} for r in lines]
        write_parquet(pa.Table.from_pylist(preds), layout.output("character_predictions", ep))
        pr = _record(layout, "character_predictions", ep, layout.output("character_predictions", ep), [tr, ref], len(preds))
        annotated = [{"line_id": p["line_id"], "start": p["start"], "end": p["end"], "text": f"台詞{e}-{p['line_id']}",
                      "character": p["character"], "character_source": "prediction", "text_source": "transcript",
                      "status": "certain", "annotation_row": None} for p in preds]
        write_parquet(pa.Table.from_pylist(annotated), layout.output("annotated_lines", ep))
        an = _record(layout, "annotated_lines", ep, layout.output("annotated_lines", ep), [pr], len(annotated))
        write_parquet(pa.Table.from_pylist([{**a, "conversation": 0, "turn": a["line_id"]} for a in annotated]), layout.output("dialogue_turns", ep))
        turns_inputs.append(_record(layout, "dialogue_turns", ep, layout.output("dialogue_turns", ep), [an], len(annotated)))
        for k in range(per_episode):
            a, b = annotated[2 * k], annotated[2 * k + 1]
            samples.append({"id": f"{ep}-{k}", "persona": "Sakura", "episode": ep, "conversation": 0,
                            "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": a["text"]},
                                         {"role": "assistant", "content": b["text"]}],
                            "speakers": [a["character"], b["character"]], "line_ids": [a["line_id"], b["line_id"]],
                            "start": a["start"], "end": b["end"], "statuses": ["certain", "certain"]})
    primary = write_dialogue(layout.folder("dialogue_dataset", "Sakura"), samples, [])
    _record(layout, "dialogue_dataset", "Sakura", primary, turns_inputs, len(samples))
    return primary.parent / "train.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp))
        t0 = time.perf_counter()
        train = build(layout, args.rows)
        built = time.perf_counter() - t0
        rng = random.Random(1)
        timings = []
        for n in rng.sample(range(args.rows), args.queries):
            t = time.perf_counter()
            answer = explain(layout, train, n)
            timings.append(time.perf_counter() - t)
            assert len(answer["lines"]) == 2 and answer["lines"][0]["cue"] is not None
    figures = {"rows": args.rows, "episodes": 20, "queries": args.queries, "build_s": round(built, 1),
               "why_median_s": round(statistics.median(timings), 3), "why_max_s": round(max(timings), 3),
               "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(figures, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lineage_why.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
