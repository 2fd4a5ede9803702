"""Ingest stage: decode the episode's audio once; its transcript from subtitles or speech recognition."""

import dagster as dg
from pydantic import Field

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio, first_sample_time, load_audio
from animespeech_assets.core.storage import write_npy, write_parquet
from animespeech_assets.ingest import transcripts
from animespeech_assets.ingest.dialogue_rules import DialogueRule
from animespeech_assets.ingest.episodes import find_episode
from animespeech_assets.ingest.recognition import Segmentation, SpeakerMerge, recognise_cues
from animespeech_assets.ingest.subtitles import TranscriptFilters, check_transcript, summarise
from animespeech_assets.ingest.tracks import whisper_language

from .materialize import READS_AUDIO, READS_SUBTITLES, Materialization, check, table_preview
from .partitions import episodes
from .pools import ON_GPU
from .resources import DataResource, SpeakerEncoderResource, SpeechRecognizerResource, TracksResource


@dg.asset(
    tags=READS_AUDIO,
    partitions_def=episodes,
    group_name="ingest",
    code_version="2",
    kinds={"pyav", "numpy"},
    description="The episode's audio track (chosen by language: the `tracks` resource, <stem>.episode.json) decoded "
    "once to 16 kHz mono float32 (data/assets/episode_audio/<episode>.npy); every track of the release in the metadata.",
)
def episode_audio(context: dg.AssetExecutionContext, data: DataResource, tracks: TracksResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    ep = find_episode(m.layout.inputs, m.partition)
    digest = m.source(ep.media)
    if ep.settings:
        m.source(ep.settings)
    plan = tracks.plan(ep)
    samples, source = decode_audio(ep.media, ANALYSIS_SAMPLE_RATE, plan.audio.track.index, context.log.info)
    write_npy(samples, m.output())
    return m.done(
        row_count=int(samples.size),
        parameters={"sample_rate": ANALYSIS_SAMPLE_RATE, "channels": 1, "dtype": "float32", "audio_stream": source.stream_index,
                    "track_rule": plan.audio.rule},
        metadata={"duration_s": round(samples.size / ANALYSIS_SAMPLE_RATE, 3), "source_file": dg.MetadataValue.path(str(ep.media)),
                  "source_sha256": digest, "source_codec": source.codec, "source_sample_rate": source.sample_rate,
                  "source_channels": source.channels, "source_start_s": source.start, "audio_track": plan.audio.track.describe(),
                  "audio_track_rule": plan.audio.rule, "tracks": dg.MetadataValue.json(plan.summary())},
    )


class TranscriptConfig(dg.Config):
    source: transcripts.TranscriptSource = Field(default=transcripts.TranscriptSource.auto,
                                                 description="auto (subtitles when present, else speech recognition) | subtitles | asr")
    min_duration: float = Field(default=TranscriptFilters.min_duration, description="drop lines shorter than this (s)")
    min_chars: int = Field(default=TranscriptFilters.min_chars, description="drop lines with fewer cleaned characters")
    max_gap: float = Field(default=Segmentation.max_gap, description="asr, without merge_same_speaker: a pause this long "
                           "between words starts a new line (s)")
    min_silence: float = Field(default=Segmentation.min_silence, description="asr, with merge_same_speaker: a silence this long "
                               "that voice activity finds ends a voiced piece (s)")
    max_line_duration: float = Field(default=Segmentation.max_duration, description="asr: longest line (s)")
    merge_same_speaker: bool = Field(default=True, description="asr: join neighbouring pieces whose speaker vectors agree "
                                     "(the speaker encoder's) into one line; a change of speaker always ends a line")
    merge_max_gap: float = Field(default=SpeakerMerge.max_gap, description="asr: longest pause (s) inside one joined line")
    merge_cluster_distance: float = Field(default=SpeakerMerge.cluster_distance, description="asr: cosine distance within which "
                                          "every two pieces of one voice lie (complete-linkage clustering of their speaker vectors)")
    include_styles: list[str] = Field(default=[], description="subtitle styles (regular expressions) that are always dialogue")
    exclude_styles: list[str] = Field(default=[], description="subtitle styles (regular expressions) that never are")
    recognise_foreign: bool = Field(default=True, description="subtitles in another language than the audio: keep their "
                                    "times, recognise each line's text from the audio, keep theirs as `translation`")


@dg.asset(
    tags=READS_SUBTITLES,
    partitions_def=episodes,
    deps=[episode_audio],
    group_name="ingest",
    code_version="7",
    **ON_GPU,
    kinds={"pysubs2", "whisper", "parquet"},
    check_specs=[dg.AssetCheckSpec("transcript_valid", asset="transcript", blocking=True,
                                   description="non-empty, unique line ids, sorted, every line inside the audio")],
    description="One row per line: line_id, start, end, text, raw_text, source (subtitles or asr), recogniser confidence.",
)
def transcript(context: dg.AssetExecutionContext, config: TranscriptConfig, data: DataResource, tracks: TracksResource,
               speech_recognizer: SpeechRecognizerResource, speaker_encoder: SpeakerEncoderResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    ep = find_episode(m.layout.inputs, m.partition)
    audio = load_audio(m.read("episode_audio"))
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    filters = TranscriptFilters(min_duration=config.min_duration, min_chars=config.min_chars)
    plan = tracks.plan(ep)
    dropped = m.layout.asset_file("transcript", m.partition, ".dropped.parquet")  # the side table of events that are not dialogue
    if transcripts.uses_recognition(config.source, plan):
        seg = Segmentation(max_gap=config.max_gap, min_silence=config.min_silence, max_duration=config.max_line_duration)
        merge = SpeakerMerge(max_gap=config.merge_max_gap, cluster_distance=config.merge_cluster_distance, max_duration=config.max_line_duration)
        made = transcripts.from_recognition(audio, speech_recognizer.load(), speech_recognizer.language, filters, seg,
                                            speech_recognizer.beam_size, speech_recognizer.no_repeat_ngram_size, str(ep.media), context.log.info,
                                            speaker_encoder.load() if config.merge_same_speaker else None, merge)
    else:
        made = _from_subtitles(context, m, config, plan, audio, filters, speech_recognizer)
    for warning in summarise(made.report.warnings):
        context.log.warning(f"{ep.key}: {warning}")
    if made.dropped is not None:
        write_parquet(made.dropped, dropped)
    else:
        dropped.unlink(missing_ok=True)  # recognised this time: no subtitle events to account for
    write_parquet(made.table, m.output())
    return m.done(
        row_count=made.table.num_rows, parameters=made.parameters, models=made.models,
        extra_outputs=[dropped] if made.dropped is not None else [],
        metadata={"source": made.parameters["source"], **transcripts.report_figures(made.report),
                  "warnings": dg.MetadataValue.json(made.report.warnings[:200]), "subtitle_choice": plan.subtitles.rule,
                  "preview": table_preview(made.table.slice(0, 8).to_pylist(), ["line_id", "start", "end", "text", "translation"]),
                  **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in made.details.items()}},
        checks=[check("transcript_valid", check_transcript(made.table, duration))],
    )


def _from_subtitles(context, m: Materialization, config: TranscriptConfig, plan, audio, filters, speech_recognizer) -> transcripts.Transcript:
    """The chosen subtitles' dialogue, with the dialogue rule of the run config and the episode's settings file."""
    ep = find_episode(m.layout.inputs, m.partition)
    for path in (ep.subtitles or ep.media, ep.settings):
        if path:
            m.source(path)
    rule = DialogueRule(tuple(config.include_styles) + plan.settings.include_styles,
                        tuple(config.exclude_styles) + plan.settings.exclude_styles)
    recognise = _line_recogniser(context, speech_recognizer, audio) if config.recognise_foreign else None
    return transcripts.from_subtitles(plan, audio, filters, rule, recognise, first_sample_time(ep.media, plan.audio.track.index))


def _line_recogniser(context, speech_recognizer: SpeechRecognizerResource, audio):
    """Recognition of given line times (foreign subtitles), loading the model only when it is needed."""
    def recognise(cues, language3):
        language = whisper_language(language3) or speech_recognizer.language
        recognizer = speech_recognizer.load()
        context.log.info(f"subtitles are not in the audio's language ({language3}): recognising {len(cues)} lines")
        step = max(1, len(cues) // 10)

        def progress(n, total):
            if n % step == 0 or n == total:
                context.log.info(f"recognised {n}/{total} lines")

        return recognise_cues(cues, audio, ANALYSIS_SAMPLE_RATE, recognizer, language, recognizer.options, progress), recognizer.model_id
    return recognise
