"""Per-line speaker embeddings of each line's voiced part, cut from the decoded episode audio in memory
and computed in batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import pyarrow as pa

from animespeech_assets.backends.devices import ThreadBudget
from animespeech_assets.core.audio import cut
from animespeech_assets.core.progress import Progress
from animespeech_assets.core.voice import NO_SPEECH, VoiceOptions, speech_probabilities, voiced_span

SILENCE_RMS = 10 ** (-55 / 20)  # below -55 dBFS a clip holds no usable voice
PROGRESS_CHUNK = 64  # lines per progress step and thread-budget check (a multiple of the encoders' batch sizes)

# embedding_status values (and NO_SPEECH)
OK, TOO_SHORT, SILENT = "ok", "too_short", "silent"


def embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("line_id", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("embedding_status", pa.string()),
            ("speech_start", pa.float64()),  # the voiced part of the cue (null where none was found)
            ("speech_end", pa.float64()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def embed_lines(audio: np.ndarray, sample_rate: int, lines: pa.Table, encoder, log: Callable[[str], None] | None = None,
                voice: VoiceOptions | None = VoiceOptions()) -> pa.Table:
    """One row per transcript line; ``vector`` is null where the line is too short, silent, or holds
    no speech (``no_speech``: music or effects under the cue).

    With ``voice`` (the default; ``sample_rate`` must be 16 kHz), each line is embedded on its voiced
    part (``speech_start``, ``speech_end``), found by voice activity over the whole track; with None, on
    the whole cue. Clips are views into ``audio`` (no copies on disk, no subprocesses); the encoder
    batches them, longest first so batches hold clips of similar length. Progress goes to a terminal
    and ``log``.
    """
    ids = lines.column("line_id").to_pylist()
    starts = lines.column("start").to_pylist()
    ends = lines.column("end").to_pylist()
    probs = None
    if voice is not None:
        with ThreadBudget() as budget:  # as many threads as cores other processes leave free
            probs = speech_probabilities(audio, sample_rate, budget.threads)
    status, spans, clips = [], [], {}
    for i, (start, end) in enumerate(zip(starts, ends)):
        if probs is None:  # whole cues; no voiced part recorded
            span, recorded = (start, end), None
        else:
            span = recorded = voiced_span(probs, start, end, voice)
        spans.append(recorded)
        clip = cut(audio, sample_rate, *span) if span is not None else None
        if clip is None:
            status.append(NO_SPEECH)
        elif len(clip) < encoder.min_seconds * sample_rate:
            status.append(TOO_SHORT)
        elif float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) < SILENCE_RMS:
            status.append(SILENT)
        else:
            status.append(OK)
            clips[i] = np.asarray(clip, np.float32)
    order = sorted(clips, key=lambda i: -len(clips[i]))
    vectors: list[list[float] | None] = [None] * len(ids)
    on_cpu = str(getattr(encoder, "device", "cpu")) == "cpu"
    with Progress("speaker embeddings", len(order), "lines", log) as progress, (ThreadBudget() if on_cpu else nullcontext()) as budget:
        for first in range(0, len(order), PROGRESS_CHUNK):
            chunk = order[first : first + PROGRESS_CHUNK]
            if budget:
                budget.apply()  # fewer torch threads while other processes keep cores busy
            for i, vector in zip(chunk, encoder.embed([clips[i] for i in chunk])):
                vectors[i] = vector
            progress.advance(len(chunk))
    dim = int(encoder.dim)
    flat = np.concatenate([v if v is not None else np.zeros(dim, np.float32) for v in vectors]) if ids else np.zeros(0, np.float32)
    missing = pa.array([v is None for v in vectors], pa.bool_())
    vector_col = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim, mask=missing)
    return pa.table(
        {
            "line_id": pa.array(ids, pa.int32()),
            "start": pa.array(starts, pa.float64()),
            "end": pa.array(ends, pa.float64()),
            "embedding_status": pa.array(status, pa.string()),
            "speech_start": pa.array([sp[0] if sp else None for sp in spans], pa.float64()),
            "speech_end": pa.array([sp[1] if sp else None for sp in spans], pa.float64()),
            "vector": vector_col,
        },
        schema=embeddings_schema(dim),
    )


def vector_dim(table: pa.Table) -> int:
    return table.schema.field("vector").type.list_size


def vectors_of(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(row mask of embedded lines, (n_embedded, dim) float32 matrix)."""
    col = table.column("vector").combine_chunks()
    valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
    dim = col.type.list_size
    values = col.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    matrix = values[col.offset * dim : (col.offset + len(col)) * dim].reshape(len(col), dim)
    return valid, matrix[valid]


def status_counts(table: pa.Table) -> dict[str, int]:
    return dict(Counter(table.column("embedding_status").to_pylist()))


def check_embeddings(embeddings: pa.Table, transcript: pa.Table) -> list[str]:
    problems = []
    if embeddings.column("line_id").to_pylist() != transcript.column("line_id").to_pylist():
        problems.append("embedding rows do not match the transcript's lines one to one")
    valid, matrix = vectors_of(embeddings)
    statuses = embeddings.column("embedding_status").to_pylist()
    if any((s == OK) != bool(v) for s, v in zip(statuses, valid)):
        problems.append("a line marked ok has no vector, or a marked line has one")
    if len(matrix) and not np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-3):
        problems.append("vectors are not L2-normalised")
    return problems


ENCODER_KEY = b"encoder"


def encoder_of(table: pa.Table) -> str:
    meta = table.schema.metadata or {}
    return meta.get(ENCODER_KEY, b"").decode()


def with_encoder(table: pa.Table, encoder: str) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), ENCODER_KEY: encoder.encode()})
