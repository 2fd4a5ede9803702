"""The per-episode predictions table: one row per line with its character, distance, status and neighbours."""

from __future__ import annotations

import pyarrow as pa

from animespeech_assets.speakers.embeddings import vectors_of
from animespeech_assets.speakers.knn import Reference, Thresholds, predict, status_of
from animespeech_assets.speakers.statuses import LABELLED, STATUSES

NEIGHBOURS_SHOWN = 5  # nearest reference samples listed per line (at least k)

NEIGHBOUR_TYPE = pa.struct(
    [("character", pa.string()), ("distance", pa.float32()), ("episode", pa.string()), ("line_id", pa.int32())]
)


PREDICTIONS_SCHEMA = pa.schema(
    [
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("character", pa.string()),
        ("distance", pa.float64()),
        ("status", pa.string()),
        ("predicted_character", pa.string()),
        ("runner_up", pa.string()),
        ("margin", pa.float64()),
        ("neighbours", pa.list_(NEIGHBOUR_TYPE)),
        ("embedding_status", pa.string()),
        ("speech_start", pa.float64()),  # the voiced part of the cue (speaker_embeddings)
        ("speech_end", pa.float64()),
    ]
)


def predictions_table(
    episode: str,
    transcript: pa.Table,
    embeddings: pa.Table,
    ref: Reference,
    labels: dict[int, str],
    k: int,
    thresholds: Thresholds,
) -> pa.Table:
    """One row per transcript line, sorted by time. Human-labelled lines keep their label
    (status ``labelled``); ``predicted_character`` is what the model says for every line, the
    line itself excluded from its neighbours."""
    valid, matrix = vectors_of(embeddings)
    ids = embeddings.column("line_id").to_pylist()
    embedded_ids = [lid for lid, v in zip(ids, valid) if v]
    pred = predict(matrix, ref, k, exclude=[(episode, lid) for lid in embedded_ids], n_neighbours=max(k, NEIGHBOURS_SHOWN))
    by_line = {lid: j for j, lid in enumerate(embedded_ids)}
    text = dict(zip(transcript.column("line_id").to_pylist(), transcript.column("text").to_pylist()))
    emb_status = embeddings.column("embedding_status").to_pylist()
    no_spans = [None] * len(ids)  # embeddings made before voice activity have no voiced parts
    speech = zip(*(embeddings.column(c).to_pylist() if c in embeddings.column_names else no_spans for c in ("speech_start", "speech_end")))
    rows = []
    for lid, start, end, est, (s_start, s_end) in zip(ids, embeddings.column("start").to_pylist(), embeddings.column("end").to_pylist(), emb_status, speech):
        j = by_line.get(lid)
        predicted = pred.character[j] if j is not None else None
        distance = pred.distance[j] if j is not None else None
        if lid in labels:
            character, status = labels[lid], LABELLED
        else:
            character = predicted
            status = status_of(distance, pred.margin[j] if j is not None else None, thresholds)
        rows.append(
            {
                "line_id": lid,
                "start": start,
                "end": end,
                "text": text.get(lid),
                "character": character,
                "distance": distance,
                "status": status,
                "predicted_character": predicted,
                "runner_up": pred.runner_up[j] if j is not None else None,
                "margin": pred.margin[j] if j is not None else None,
                "neighbours": pred.neighbours[j] if j is not None else [],
                "embedding_status": est,
                "speech_start": s_start,
                "speech_end": s_end,
            }
        )
    rows.sort(key=lambda r: (r["start"], r["line_id"]))
    return pa.Table.from_pylist(rows, schema=PREDICTIONS_SCHEMA)


def check_predictions(table: pa.Table, transcript: pa.Table) -> list[str]:
    problems = []
    d = [x for x in table.column("distance").to_pylist() if x is not None]
    if any(not (0.0 <= x <= 2.0) for x in d):
        problems.append("a distance lies outside [0, 2]")
    if sorted(table.column("line_id").to_pylist()) != sorted(transcript.column("line_id").to_pylist()):
        problems.append("predictions do not cover every transcript line exactly once")
    starts = table.column("start").to_pylist()
    if any(b < a for a, b in zip(starts, starts[1:])):
        problems.append("rows are not sorted by time")
    statuses = set(table.column("status").to_pylist())
    if statuses - set(STATUSES):
        problems.append(f"unexpected status values {sorted(statuses)}")
    return problems


def check_compatible(embeddings: pa.Table, reference: pa.Table, path) -> None:
    """Embeddings and reference set must come from one encoder (and so one dimension)."""
    from animespeech_assets.speakers.embeddings import encoder_of, vector_dim

    if vector_dim(embeddings) != vector_dim(reference) or encoder_of(embeddings) != encoder_of(reference):
        raise ValueError(
            f"{path}: embedded with {encoder_of(embeddings)} (dim {vector_dim(embeddings)}) but the reference set "
            f"uses {encoder_of(reference)} (dim {vector_dim(reference)}); re-materialize one of them"
        )


def settings(suggested: dict, k: int | None, certain: float | None, uncertain: float | None,
             margin: float | None = None) -> tuple[int, Thresholds]:
    """k and thresholds: the configured values, else the reference set's leave-one-out suggestion."""
    def pick(value, key):
        return suggested.get(key, 0.0) if value is None else value

    return k or suggested["k"], Thresholds(pick(certain, "certain_threshold"), pick(uncertain, "uncertain_threshold"),
                                           pick(margin, "certain_margin"))


def counts(table: pa.Table) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Statuses per character (``(none)`` for lines without one), and statuses overall."""
    from collections import Counter

    per_character: dict[str, Counter] = {}
    for character, status in zip(table.column("character").to_pylist(), table.column("status").to_pylist()):
        per_character.setdefault(character or "(none)", Counter())[status] += 1
    return ({c: dict(n) for c, n in sorted(per_character.items())}, dict(Counter(table.column("status").to_pylist())))
