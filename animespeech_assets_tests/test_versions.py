"""Kept versions and table diffs, on their own: content survives the pipeline's atomic rewrites,
retention keeps the newest, and a diff names exactly the rows and columns that changed."""

import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core import diffs
from animespeech_assets.core.storage import atomic_dir, sha256_file, write_parquet
from animespeech_assets.core.versions import VersionStore


def test_kept_versions_survive_rewrites_and_retention_keeps_the_newest(tmp_path):
    store = VersionStore(tmp_path / "versions")
    table_path, folder = tmp_path / "assets" / "t" / "ep1.parquet", tmp_path / "exports" / "x" / "Mei"
    hashes = []
    for n in range(3):
        write_parquet(pa.table({"line_id": [n], "text": [f"v{n}"]}), table_path)
        with atomic_dir(folder) as tmp:
            (tmp / "train.jsonl").write_text(f"row {n}\n", encoding="utf-8")
        hashes.append(sha256_file(table_path))
        store.keep("t", "ep1", hashes[-1], [table_path, folder])
    for n, h in enumerate(hashes):  # each version reads back as it was, though the files were replaced since
        assert pq.read_table(store.file("t", "ep1", h, table_path)).column("text").to_pylist() == [f"v{n}"]
        assert store.file("t", "ep1", h, folder / "train.jsonl").read_text(encoding="utf-8") == f"row {n}\n"
    removed = store.prune("t", "ep1", list(reversed(hashes)), keep=2)
    assert removed == [hashes[0][:20]]
    assert store.file("t", "ep1", hashes[0], table_path) is None
    assert sorted(store.kept("t", "ep1")) == sorted(h[:20] for h in hashes[1:])


def test_table_diff_lists_added_removed_and_changed_columns():
    old = pa.table({"line_id": [1, 2, 3], "character": ["A", "B", "B"], "distance": [0.1, 0.2, 0.3]})
    new = pa.table({"line_id": [2, 3, 4], "character": ["B", "A", "C"], "distance": [0.2, 0.25, 0.4]})
    d = diffs.table_diff(old, new, ("line_id",))
    assert d["added"] == [4] and d["removed"] == [1]
    assert d["changed"] == [{"key": 3, "columns": {"character": ["B", "A"], "distance": [0.3, 0.25]}}]
    assert diffs.character_changes(old, new) == {"B": -1, "C": 1}
    assert diffs.summary(d, old, new) == {"added": 1, "removed": 1, "changed": 1, "characters": {"B": -1, "C": 1}}


def test_an_output_named_twice_is_kept_once(tmp_path):
    """An export asset names its folder as an extra output and is kept whole: one copy, no clash."""
    folder = tmp_path / "exports" / "tts_samples" / "Mei"
    with atomic_dir(folder) as tmp:
        (tmp / "a.wav").write_bytes(b"RIFF")
        write_parquet(pa.table({"id": ["a"]}), tmp / "samples.parquet")
    store = VersionStore(tmp_path / "versions")
    digest = sha256_file(folder / "samples.parquet")
    store.keep("tts_samples", "Mei", digest, [folder / "samples.parquet", folder, folder])
    assert store.file("tts_samples", "Mei", digest, folder / "a.wav").read_bytes() == b"RIFF"
