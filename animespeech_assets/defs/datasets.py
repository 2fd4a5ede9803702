"""Dataset stage: human corrections applied, then dialogue and audio datasets per episode and per character."""

from collections import Counter

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from animespeech_assets.core.audio import decode_audio
from animespeech_assets.core.storage import atomic_dir, write_parquet
from animespeech_assets.datasets import clips as clipping
from animespeech_assets.datasets import dialogue
from animespeech_assets.datasets.formats import write_audio_dataset, write_dialogue
from animespeech_assets.datasets.formats.provenance import untraceable
from animespeech_assets.ingest.episodes import find_episode
from animespeech_assets.speakers.references import character_names
from animespeech_assets.speakers.review import annotate
from animespeech_assets.speakers.statuses import DATASET_STATUSES

from .automation_conditions import REFRESH
from .ingest import transcript
from .materialize import READS_ANNOTATIONS, READS_AUDIO, Materialization, check
from .partitions import characters, episodes
from .resources import DataResource, TracksResource
from .speakers import character_predictions, reference_set

ALL_EPISODES = dg.AllPartitionMapping()


def traceable_check(asset: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec("rows_traceable", asset=asset, blocking=True,
                              description="every row names its episode and lines, and they are among the input versions read")]

# every dataset asset refreshes when its inputs change (a new reference set, new labels)
PER_EPISODE = {"partitions_def": episodes, "automation_condition": REFRESH, "group_name": "datasets"}
PER_CHARACTER = {"partitions_def": characters, "automation_condition": REFRESH, "group_name": "datasets"}


def _character(m: Materialization) -> str:
    """The character behind this materialization's partition key (from the reference set)."""
    names = character_names(m.read("reference_set", ""))
    if m.partition not in names:
        raise dg.Failure(f"character {m.partition!r} is not in the reference set (characters: {sorted(names)})")
    return names[m.partition]


@dg.asset(
    tags=READS_ANNOTATIONS,
    **PER_EPISODE,
    deps=[character_predictions, transcript],
    code_version="4",
    kinds={"parquet"},
    description="Predictions with the episode's human annotations applied: human labels and text fixes always win; "
    "the transcript's translation (foreign subtitles) carried along.",
)
def annotated_lines(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    predicted = pq.read_table(m.read("character_predictions"))
    lines = pq.read_table(m.read("transcript"), columns=["line_id", "translation"]).to_pylist()
    annotations = m.layout.annotation_file(m.partition)
    if annotations.exists():
        m.source(annotations)
    translations = {r["line_id"]: r["translation"] for r in lines if r["translation"]}
    table, report = annotate(predicted, annotations if annotations.exists() else None, translations)
    for row in report.unmatched:
        context.log.warning(f"{annotations}: {row} matches no line")
    write_parquet(table, m.output())
    return m.done(
        row_count=table.num_rows,
        metadata={"character_source": dg.MetadataValue.json(dict(Counter(table.column("character_source").to_pylist()))),
                  "human_labels": report.human_labels, "text_fixes": report.text_fixes,
                  "overridden_predictions": report.overridden_predictions, "unmatched_annotations": dg.MetadataValue.json(report.unmatched)},
    )


class DialogueTurnsConfig(dg.Config):
    max_gap: float = Field(default=5.0, description="longest pause (s) between two lines of one conversation")
    statuses: list[str] = Field(default=list(DATASET_STATUSES), description="line statuses allowed in")


@dg.asset(
    **PER_EPISODE,
    deps=[annotated_lines],
    code_version="2",
    kinds={"parquet"},
    description="The episode's conversations in time order: consecutive usable lines with gaps in [0, max_gap].",
)
def dialogue_turns(context: dg.AssetExecutionContext, config: DialogueTurnsConfig, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    options = dialogue.DialogueOptions(max_gap=config.max_gap, statuses=tuple(config.statuses))
    table = dialogue.conversations(pq.read_table(m.read("annotated_lines")), options)
    write_parquet(table, m.output())
    return m.done(
        row_count=table.num_rows, parameters={"max_gap": options.max_gap, "statuses": list(options.statuses)},
        metadata={"conversations": len(set(table.column("conversation").to_pylist())),
                  "per_character": dg.MetadataValue.json(dict(Counter(table.column("character").to_pylist())))},
    )


class DialogueDatasetConfig(dg.Config):
    users: list[str] = Field(default=[], description="characters on the user side; empty: anyone but the persona")
    max_turns: int = Field(default=2, description="messages per sample (2: single-turn pairs; more: multi-turn)")
    system_prompt: str = Field(default=dialogue.DEFAULT_SYSTEM_PROMPT, description="{persona} is replaced by the character's name")
    validation_share: float = Field(default=0.1, description="share of episodes (whole episodes) held out for validation")


@dg.asset(
    **PER_CHARACTER,
    deps=[dg.AssetDep(dialogue_turns, partition_mapping=ALL_EPISODES), reference_set],
    code_version="2",
    kinds={"jsonl", "parquet"},
    check_specs=traceable_check("dialogue_dataset"),
    description="All episodes' conversations for one persona: TRL conversational JSONL, ShareGPT JSON and Parquet with provenance.",
)
def dialogue_dataset(context: dg.AssetExecutionContext, config: DialogueDatasetConfig, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    persona = _character(m)
    paths = m.read_all("dialogue_turns")
    opts = dialogue.SampleOptions(persona, tuple(config.users), config.max_turns, config.system_prompt)
    turns = {p.stem: pq.read_table(p) for p in paths}
    train, validation, duplicates, validation_eps = dialogue.persona_dataset(turns, opts, config.validation_share)
    known = {ep: set(t.column("line_id").to_pylist()) for ep, t in turns.items()}
    write_dialogue(m.folder(), train, validation)
    return m.done(
        row_count=len(train) + len(validation),
        parameters={"persona": persona, "users": list(config.users), "max_turns": config.max_turns,
                    "system_prompt": config.system_prompt, "validation_share": config.validation_share},
        metadata={"train": len(train), "validation": len(validation), "duplicates_dropped": duplicates,
                  "validation_episodes": dg.MetadataValue.json(sorted(validation_eps)), "folder": dg.MetadataValue.path(str(m.folder())),
                  "samples": dg.MetadataValue.json(dialogue.preview(train))},
        checks=[check("rows_traceable", untraceable(train + validation, known))],
    )


class CharacterClipsConfig(dg.Config):
    sample_rate: int = Field(default=44_100, description="dataset sample rate (44100; 22050 and 24000 are common)")
    padding: float = Field(default=0.1, description="silence kept around the trimmed speech (s)")
    min_duration: float = Field(default=1.0)
    max_duration: float = Field(default=15.0)
    statuses: list[str] = Field(default=list(DATASET_STATUSES), description="line statuses allowed in")


@dg.asset(
    tags=READS_AUDIO,
    **PER_EPISODE,
    deps=[annotated_lines],
    code_version="3",
    kinds={"wav", "parquet"},
    description="Per-character WAV clips of each line's voiced part, cut from the original audio track and "
    "loudness-normalised, with a reason for every rejected line and each clip's place in the episode.",
)
def character_clips(context: dg.AssetExecutionContext, config: CharacterClipsConfig, data: DataResource,
                    tracks: TracksResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    ep = find_episode(m.layout.inputs, m.partition)
    lines = pq.read_table(m.read("annotated_lines")).to_pylist()
    for path in (ep.media, ep.settings):
        if path:
            m.source(path)
    opts = clipping.ClipOptions(sample_rate=config.sample_rate, padding=config.padding, min_duration=config.min_duration,
                                max_duration=config.max_duration, statuses=tuple(config.statuses))
    track = tracks.plan(ep).audio.track  # the episode's audio track (the one episode_audio decoded)
    source, _ = decode_audio(ep.media, opts.sample_rate, track.index, context.log.info)  # the original track, once, at the dataset rate
    with atomic_dir(m.folder()) as tmp:
        table = clipping.cut_episode(ep.key, lines, source, opts, m.folder(), tmp)
    write_parquet(table, m.output())
    summary = clipping.manifest_summary(table)
    return m.done(
        row_count=summary["accepted"], extra_outputs=[m.folder()],
        parameters={k: getattr(opts, k) for k in opts.__dataclass_fields__},
        metadata={k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in summary.items()},
    )


@dg.asset(
    **PER_CHARACTER,
    deps=[dg.AssetDep(character_clips, partition_mapping=ALL_EPISODES), reference_set],
    code_version="3",
    kinds={"wav"},
    check_specs=traceable_check("audio_dataset"),
    description="All episodes' accepted clips of one character as LJSpeech/Piper, Style-Bert-VITS2, GPT-SoVITS "
    "and Hugging Face audiofolder datasets.",
)
def audio_dataset(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    name = _character(m)
    manifests = m.read_all("character_clips")
    clips = clipping.accepted_clips(manifests, name)
    known = {p.stem: {r["line_id"] for r in pq.read_table(p, columns=["line_id", "accepted"]).to_pylist() if r["accepted"]} for p in manifests}
    write_audio_dataset(m.folder(), name, clips)
    return m.done(
        row_count=len(clips), parameters={"character": name, "sample_rate": clips[0]["sample_rate"]},
        metadata={"clips": len(clips), "total_seconds": round(float(sum(c["duration"] for c in clips)), 1),
                  "per_episode": dg.MetadataValue.json(dict(Counter(c["episode"] for c in clips))),
                  "folder": dg.MetadataValue.path(str(m.folder())),
                  "samples": dg.MetadataValue.json([{"id": c["id"], "text": c["text"]} for c in clips[:5]])},
        checks=[check("rows_traceable", untraceable(clips, known))],
    )
