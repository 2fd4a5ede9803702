"""Dataset writers, in the layouts their training tools read.

Audio (one folder per character; wavs once, several manifests):
  wavs/<id>.wav              mono PCM 16-bit at the dataset sample rate; ids, never text, as names
  metadata.csv               LJSpeech / Piper: ``id|text``, no header
  esd.list                   Style-Bert-VITS2: ``<id>.wav|speaker|JP|text``
  gpt_sovits.list            GPT-SoVITS: ``<absolute path>|speaker|ja|text``
  hf/metadata.csv + hf/*.wav Hugging Face audiofolder (``file_name``, ``text`` and provenance;
                             the wavs are hard links, no second copy)
  clips.parquet              every clip with provenance (episode, line_id, start, end)
Dialogue (one folder per persona):
  train.jsonl, validation.jsonl                 TRL conversational ``{"messages": [...]}``
  sharegpt_train.json, sharegpt_validation.json ShareGPT ``conversations`` with ``from``/``value``
  dataset.parquet                               both splits with provenance columns
Folders are written aside and swapped in whole, so a re-run replaces, never appends.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.datasets import dialogue
from animespeech_assets.core.storage import atomic_dir

PIPE_FORBIDDEN = ("|", "\n", "\r")


def _pipe_safe(text: str) -> str:
    for ch in PIPE_FORBIDDEN:
        text = text.replace(ch, " ")
    return text.strip()


def write_dialogue(folder: Path, train: list[dict], validation: list[dict]) -> Path:
    with atomic_dir(folder) as tmp:
        for split, part in (("train", train), ("validation", validation)):
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for s in part:
                    fh.write(json.dumps(dialogue.to_trl(s), ensure_ascii=False) + "\n")
            (tmp / f"sharegpt_{split}.json").write_text(
                json.dumps([dialogue.to_sharegpt(s) for s in part], ensure_ascii=False, indent=1), encoding="utf-8"
            )
        pq.write_table(dialogue.to_table(train, validation), tmp / "dataset.parquet", compression="zstd")
    return folder / "dataset.parquet"


CLIPS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("character", pa.string()),
        ("episode", pa.string()),
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("duration", pa.float64()),
        ("sample_rate", pa.int32()),
        ("source_path", pa.string()),
    ]
)


def write_audio_dataset(folder: Path, character: str, clips: list[dict]) -> Path:
    """``clips``: dicts with CLIPS_SCHEMA fields; ``source_path`` is the episode clip to copy in."""
    clips = sorted(clips, key=lambda c: (c["episode"], c["start"], c["line_id"]))
    with atomic_dir(folder) as tmp:
        (tmp / "wavs").mkdir()
        (tmp / "hf").mkdir()
        meta, esd, sovits = io.StringIO(), io.StringIO(), io.StringIO()
        hf_rows = []
        for c in clips:
            name = f"{c['id']}.wav"
            wav = tmp / "wavs" / name
            _copy(Path(c["source_path"]), wav)
            os.link(wav, tmp / "hf" / name)
            text = _pipe_safe(c["text"])
            meta.write(f"{c['id']}|{text}\n")
            esd.write(f"{name}|{character}|JP|{text}\n")
            sovits.write(f"{folder / 'wavs' / name}|{character}|ja|{text}\n")
            hf_rows.append({"file_name": name, "text": c["text"], "character": character, "episode": c["episode"],
                            "line_id": c["line_id"], "start": c["start"], "end": c["end"], "duration": c["duration"]})
        (tmp / "metadata.csv").write_text(meta.getvalue(), encoding="utf-8")
        (tmp / "esd.list").write_text(esd.getvalue(), encoding="utf-8")
        (tmp / "gpt_sovits.list").write_text(sovits.getvalue(), encoding="utf-8")
        with open(tmp / "hf" / "metadata.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file_name", "text", "character", "episode", "line_id", "start", "end", "duration"])
            writer.writeheader()
            writer.writerows(hf_rows)
        pq.write_table(pa.Table.from_pylist(clips, schema=CLIPS_SCHEMA), tmp / "clips.parquet")
    return folder / "clips.parquet"


def _copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same file system: no copy
    except OSError:
        import shutil

        shutil.copyfile(src, dst)
