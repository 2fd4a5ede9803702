"""Review and dataset stages: the review sheet, human corrections applied, then dialogue and audio
datasets per episode and per character."""

from collections import Counter
from pathlib import Path
from typing import List

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from pydantic import Field

from animespeech_assets import clips as clipping
from animespeech_assets import dialogue
from animespeech_assets.audio import ANALYSIS_SAMPLE_RATE, cut, decode_audio, load_audio
from animespeech_assets.naming import character_key, clip_id
from animespeech_assets.episodes import find_episode
from animespeech_assets.exports import CLIPS_SCHEMA, write_audio_dataset, write_dialogue
from animespeech_assets.identify import DATASET_STATUSES
from animespeech_assets.lineage import utcnow
from animespeech_assets.review import annotate, review_rows, sheet_csv
from animespeech_assets.storage import atomic_dir, write_parquet, write_text

from .identify import character_predictions, reference_set
from .automation_conditions import REFRESH
from .partitions import characters, episodes
from .recording import finish, require, source_file, upstream
from .resources import DataResource


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[character_predictions],
    group_name="datasets",
    code_version="1",
    kinds={"parquet"},
    description="Predictions with the episode's human annotations applied: human labels and text fixes always win.",
)
def annotated_lines(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = context.partition_key
    pred_path = require(layout.asset_file("character_predictions", ep), "character_predictions", ep)
    annotations = layout.annotation_file(ep)
    table, report = annotate(pq.read_table(pred_path), annotations if annotations.exists() else None)
    for row in report.unmatched:
        context.log.warning(f"{annotations}: {row} matches no line")
    out = write_parquet(table, layout.asset_file("annotated_lines", ep))
    inputs = [upstream("character_predictions", ep, pred_path)]
    if annotations.exists():
        inputs.append(source_file(annotations, ep))
    sources = Counter(table.column("character_source").to_pylist())
    return finish(
        context, data, outputs=[out], row_count=table.num_rows, started_at=started, inputs=inputs,
        metadata={
            "character_source": dg.MetadataValue.json(dict(sources)),
            "human_labels": report.human_labels,
            "text_fixes": report.text_fixes,
            "overridden_predictions": report.overridden_predictions,
            "unmatched_annotations": dg.MetadataValue.json(report.unmatched),
        },
    )


class DialogueTurnsConfig(dg.Config):
    max_gap: float = Field(default=5.0, description="longest pause (s) between two lines of one conversation")
    statuses: List[str] = Field(default=list(DATASET_STATUSES), description="line statuses allowed in")


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[annotated_lines],
    group_name="datasets",
    code_version="1",
    kinds={"parquet"},
    description="The episode's conversations in time order: consecutive usable lines with gaps in [0, max_gap].",
)
def dialogue_turns(context: dg.AssetExecutionContext, config: DialogueTurnsConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = context.partition_key
    lines_path = require(layout.asset_file("annotated_lines", ep), "annotated_lines", ep)
    options = dialogue.DialogueOptions(max_gap=config.max_gap, statuses=tuple(config.statuses))
    table = dialogue.conversations(pq.read_table(lines_path), options)
    out = write_parquet(table, layout.asset_file("dialogue_turns", ep))
    conv = table.column("conversation").to_pylist()
    return finish(
        context, data, outputs=[out], row_count=table.num_rows, started_at=started,
        inputs=[upstream("annotated_lines", ep, lines_path)],
        parameters={"max_gap": options.max_gap, "statuses": list(options.statuses)},
        metadata={"conversations": len(set(conv)), "per_character": dg.MetadataValue.json(dict(Counter(table.column("character").to_pylist())))},
    )


def _character_name(layout, key: str) -> str:
    """The character name behind a partition key (from the reference set)."""
    names = {character_key(c): c for c in set(pq.read_table(layout.asset_file("reference_set"), columns=["character"]).column("character").to_pylist())}
    if key not in names:
        raise dg.Failure(f"character {key!r} is not in the reference set (characters: {sorted(names)})")
    return names[key]


class DialogueDatasetConfig(dg.Config):
    users: List[str] = Field(default=[], description="characters on the user side; empty: anyone but the persona")
    max_turns: int = Field(default=2, description="messages per sample (2: single-turn pairs; more: multi-turn)")
    system_prompt: str = Field(default=dialogue.DEFAULT_SYSTEM_PROMPT, description="{persona} is replaced by the character's name")
    validation_share: float = Field(default=0.1, description="share of episodes (whole episodes) held out for validation")


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=characters,
    deps=[dg.AssetDep(dialogue_turns, partition_mapping=dg.AllPartitionMapping()), reference_set],
    group_name="datasets",
    code_version="1",
    kinds={"jsonl", "parquet"},
    description="All episodes' conversations for one persona: TRL conversational JSONL, ShareGPT JSON and Parquet with provenance.",
)
def dialogue_dataset(context: dg.AssetExecutionContext, config: DialogueDatasetConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    persona = _character_name(layout, context.partition_key)
    paths = sorted(layout.asset_dir("dialogue_turns").glob("*.parquet"))
    opts = dialogue.SampleOptions(persona, tuple(config.users), config.max_turns, config.system_prompt)
    all_samples = [s for p in paths for s in dialogue.samples(p.stem, pq.read_table(p), opts)]
    validation_eps = dialogue.split_episodes([p.stem for p in paths], config.validation_share)
    train, validation, duplicates = dialogue.dataset(all_samples, validation_eps)
    if not train and not validation:
        raise dg.Failure(f"no dialogue sample for {persona!r} in {len(paths)} episode(s): no line of theirs answers another character")
    out = write_dialogue(layout.exports / "dialogue" / context.partition_key, train, validation)
    preview = [{"user": s["messages"][-2]["content"], "assistant": s["messages"][-1]["content"], "episode": s["episode"]} for s in train[:5]]
    return finish(
        context, data, outputs=[out], row_count=len(train) + len(validation), started_at=started,
        inputs=[upstream("dialogue_turns", p.stem, p) for p in paths],
        parameters={"persona": persona, "users": list(config.users), "max_turns": config.max_turns,
                    "system_prompt": config.system_prompt, "validation_share": config.validation_share},
        metadata={"train": len(train), "validation": len(validation), "duplicates_dropped": duplicates,
                  "validation_episodes": dg.MetadataValue.json(sorted(validation_eps)),
                  "folder": dg.MetadataValue.path(str(out.parent)), "samples": dg.MetadataValue.json(preview)},
    )


class CharacterClipsConfig(dg.Config):
    sample_rate: int = Field(default=44_100, description="dataset sample rate (44100; 22050 and 24000 are common)")
    padding: float = Field(default=0.1, description="silence kept around the trimmed speech (s)")
    min_duration: float = Field(default=1.0)
    max_duration: float = Field(default=15.0)
    statuses: List[str] = Field(default=list(DATASET_STATUSES), description="line statuses allowed in")


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[annotated_lines],
    group_name="datasets",
    code_version="1",
    kinds={"wav", "parquet"},
    description="Per-character WAV clips cut from the original audio track, trimmed and loudness-normalised, "
    "with a reason for every rejected line.",
)
def character_clips(context: dg.AssetExecutionContext, config: CharacterClipsConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = find_episode(layout.inputs, context.partition_key)
    lines_path = require(layout.asset_file("annotated_lines", ep.key), "annotated_lines", ep.key)
    opts = clipping.ClipOptions(sample_rate=config.sample_rate, padding=config.padding, min_duration=config.min_duration,
                                max_duration=config.max_duration, statuses=tuple(config.statuses))
    lines = pq.read_table(lines_path).to_pylist()
    source, _ = decode_audio(ep.media, opts.sample_rate)  # the original track, once, at the dataset rate
    overlaps = clipping.overlapping([r["start"] for r in lines], [r["end"] for r in lines], opts.overlap_tolerance)
    folder = layout.asset_dir("character_clips") / ep.key
    rows = []
    with atomic_dir(folder) as tmp:
        for i, r in enumerate(lines):
            if r["character"] is None or r["status"] not in opts.statuses:
                continue
            cid = clip_id(ep.key, r["line_id"])
            clip, reason, stats = clipping.make_clip(source, r["start"], r["end"], r["text"], opts)
            if reason is None and i in overlaps:
                reason = clipping.OVERLAP
            path = folder / character_key(r["character"]) / f"{cid}.wav"
            if reason is None:
                (tmp / path.parent.name).mkdir(exist_ok=True)
                sf.write(tmp / path.parent.name / path.name, clip, opts.sample_rate, subtype="PCM_16")
            rows.append({"id": cid, "character": r["character"], "episode": ep.key, "line_id": r["line_id"],
                         "start": r["start"], "end": r["end"], "text": r["text"], "status": r["status"],
                         "accepted": reason is None, "reason": reason, "path": str(path) if reason is None else None,
                         "duration": stats.get("duration"), "sample_rate": opts.sample_rate,
                         "rms_dbfs": stats.get("rms_dbfs"), "snr_db": stats.get("snr_db")})
    table = pa.Table.from_pylist(rows, schema=CLIP_MANIFEST_SCHEMA)
    out = write_parquet(table, layout.asset_file("character_clips", ep.key))
    accepted = [r for r in rows if r["accepted"]]
    durations = Counter()
    for r in accepted:
        durations[r["character"]] += r["duration"]
    return finish(
        context, data, outputs=[out, folder], row_count=len(accepted), started_at=started,
        inputs=[upstream("annotated_lines", ep.key, lines_path), source_file(ep.media, ep.key)],
        parameters={k: getattr(opts, k) for k in opts.__dataclass_fields__},
        metadata={"accepted": len(accepted), "rejected": len(rows) - len(accepted),
                  "rejected_by_reason": dg.MetadataValue.json(dict(Counter(r["reason"] for r in rows if r["reason"]))),
                  "seconds_per_character": dg.MetadataValue.json({c: round(d, 1) for c, d in sorted(durations.items())})},
    )


CLIP_MANIFEST_SCHEMA = pa.schema(
    [("id", pa.string()), ("character", pa.string()), ("episode", pa.string()), ("line_id", pa.int32()),
     ("start", pa.float64()), ("end", pa.float64()), ("text", pa.string()), ("status", pa.string()),
     ("accepted", pa.bool_()), ("reason", pa.string()), ("path", pa.string()), ("duration", pa.float64()),
     ("sample_rate", pa.int32()), ("rms_dbfs", pa.float64()), ("snr_db", pa.float64())]
)


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=characters,
    deps=[dg.AssetDep(character_clips, partition_mapping=dg.AllPartitionMapping()), reference_set],
    group_name="datasets",
    code_version="1",
    kinds={"wav"},
    description="All episodes' accepted clips of one character as LJSpeech/Piper, Style-Bert-VITS2, GPT-SoVITS "
    "and Hugging Face audiofolder datasets.",
)
def audio_dataset(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    name = _character_name(layout, context.partition_key)
    manifests = sorted(layout.asset_dir("character_clips").glob("*.parquet"))
    clips = []
    for m in manifests:
        for r in pq.read_table(m).to_pylist():
            if r["accepted"] and r["character"] == name:
                clips.append({**{k: r[k] for k in CLIPS_SCHEMA.names if k in r}, "source_path": r["path"]})
    if not clips:
        raise dg.Failure(f"no accepted clip of {name!r} in {len(manifests)} episode(s)")
    rates = {c["sample_rate"] for c in clips}
    if len(rates) > 1:
        raise dg.Failure(f"clips of {name!r} have different sample rates {sorted(rates)}: re-materialize character_clips with one rate")
    out = write_audio_dataset(layout.exports / "audio" / context.partition_key, name, clips)
    per_episode = Counter(c["episode"] for c in clips)
    return finish(
        context, data, outputs=[out], row_count=len(clips), started_at=started,
        inputs=[upstream("character_clips", m.stem, m) for m in manifests],
        parameters={"character": name, "sample_rate": rates.pop()},
        metadata={"clips": len(clips), "total_seconds": round(float(np.sum([c["duration"] for c in clips])), 1),
                  "per_episode": dg.MetadataValue.json(dict(per_episode)), "folder": dg.MetadataValue.path(str(out.parent)),
                  "samples": dg.MetadataValue.json([{"id": c["id"], "text": c["text"]} for c in clips[:5]])},
    )


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[character_predictions],
    group_name="review",
    code_version="1",
    kinds={"csv", "wav"},
    description="What a person opens to correct predictions: data/review/<episode>.csv (least certain first, "
    "the columns annotation files accept) and a WAV per line in data/review/<episode>/.",
)
def review_sheet(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = context.partition_key
    pred_path = require(layout.asset_file("character_predictions", ep), "character_predictions", ep)
    audio_path = require(layout.asset_file("episode_audio", ep, ".npy"), "episode_audio", ep)
    rows = review_rows(ep, pq.read_table(pred_path))
    audio = load_audio(audio_path)
    with atomic_dir(layout.review / ep) as tmp:
        for r in rows:
            clip = cut(audio, ANALYSIS_SAMPLE_RATE, float(r["start"]), float(r["end"]))
            sf.write(tmp / Path(r["clip"]).name, np.asarray(clip), ANALYSIS_SAMPLE_RATE, subtype="PCM_16")
    # UTF-8 with BOM so spreadsheet programs show Japanese text correctly
    sheet = write_text("\ufeff" + sheet_csv(rows), layout.review / f"{ep}.csv")
    return finish(
        context, data, outputs=[sheet, layout.review / ep], row_count=len(rows), started_at=started,
        inputs=[upstream("character_predictions", ep, pred_path)],
        metadata={"by_status": dg.MetadataValue.json(dict(Counter(r["status"] for r in rows))),
                  "first_rows": dg.MetadataValue.md(pa.Table.from_pylist(rows[:8]).select(["line_id", "text", "predicted_character", "status", "distance"]).to_pandas().to_markdown(index=False)) if rows else ""},
    )
