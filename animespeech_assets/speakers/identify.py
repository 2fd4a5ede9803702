"""Who speaks each line: a labelled reference set and a per-class cosine KNN.

The rule is "k nearest per class": a line's score for character ``c`` is the mean cosine distance
to its ``min(k, n_c)`` nearest reference samples of ``c``; the predicted character is the one
with the lowest score and the reported ``distance`` is that score. So the distance always belongs
to the predicted character (the older tool could report one character's label with another's
distance) and a character with few samples can still win (a global k-vote let big classes
outvote it).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

CERTAIN, UNCERTAIN, UNKNOWN, LABELLED = "certain", "uncertain", "unknown", "labelled"
DATASET_STATUSES = (LABELLED, CERTAIN)  # the line statuses datasets trust by default
NEIGHBOURS_SHOWN = 5  # nearest reference samples listed per line (at least k)
FALLBACK = {"k": 5, "certain_threshold": 0.2, "uncertain_threshold": 0.35}
PRECISION_CERTAIN, PRECISION_UNCERTAIN = 0.95, 0.80
K_GRID = (1, 3, 5, 7, 10, 15)
THRESHOLD_GRID = tuple(round(x, 3) for x in np.arange(0.05, 1.001, 0.025))

NEIGHBOUR_TYPE = pa.struct(
    [("character", pa.string()), ("distance", pa.float32()), ("episode", pa.string()), ("line_id", pa.int32())]
)


def reference_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("character", pa.string()),
            ("episode", pa.string()),
            ("line_id", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("source", pa.string()),  # "label" (annotation file) or "refinement" (hard reviewed line)
            ("refinement_distance", pa.float64()),  # distance to its character's nearest label, when it joined
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


@dataclass
class Reference:
    vectors: np.ndarray  # (m, dim), L2-normalised
    characters: np.ndarray  # (m,) str
    episodes: np.ndarray
    line_ids: np.ndarray
    encoder: str = ""
    classes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.classes = sorted(set(self.characters.tolist()))

    @classmethod
    def from_table(cls, table: pa.Table, encoder: str = "") -> "Reference":
        from animespeech_assets.speakers.embeddings import vectors_of

        _, vectors = vectors_of(table)
        return cls(
            vectors,
            np.asarray(table.column("character").to_pylist(), dtype=object),
            np.asarray(table.column("episode").to_pylist(), dtype=object),
            np.asarray(table.column("line_id").to_pylist(), dtype=np.int64),
            encoder,
        )

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.characters.tolist()).items()))


def class_scores(dist: np.ndarray, characters: np.ndarray, classes: list[str], k: int) -> np.ndarray:
    """(n, n_classes): mean of the ``min(k, available)`` smallest distances to each class.

    ``inf`` entries in ``dist`` are excluded samples (the line itself in leave-one-out).
    """
    scores = np.full((dist.shape[0], len(classes)), np.inf)
    for c, name in enumerate(classes):
        d = np.sort(dist[:, characters == name], axis=1)
        finite = np.isfinite(d)
        kc = np.minimum(k, finite.sum(axis=1))
        csum = np.cumsum(np.where(finite, d, 0.0), axis=1)
        ok = kc > 0
        rows = np.nonzero(ok)[0]
        scores[rows, c] = csum[rows, kc[ok] - 1] / kc[ok]
    return scores


def status_of(distance: float, certain: float, uncertain: float) -> str:
    if not np.isfinite(distance):
        return UNKNOWN
    return CERTAIN if distance <= certain else UNCERTAIN if distance <= uncertain else UNKNOWN


@dataclass
class Prediction:
    character: list[str | None]
    distance: list[float | None]
    runner_up: list[str | None]
    margin: list[float | None]
    neighbours: list[list[dict]]


def predict(vectors: np.ndarray, ref: Reference, k: int, exclude: list[tuple[str, int]] | None = None, n_neighbours: int | None = None) -> Prediction:
    """Per-class KNN for each row of ``vectors``; ``exclude[i]`` = (episode, line_id) of the row
    itself, so a labelled line is never its own neighbour."""
    n = len(vectors)
    if n == 0:
        return Prediction([], [], [], [], [])
    dist = np.clip(1.0 - vectors.astype(np.float64) @ ref.vectors.T.astype(np.float64), 0.0, 2.0)
    if exclude is not None:
        for i, (episode, line_id) in enumerate(exclude):
            dist[i, (ref.episodes == episode) & (ref.line_ids == line_id)] = np.inf
    scores = class_scores(dist, ref.characters, ref.classes, k)
    order = np.argsort(scores, axis=1)
    best = scores[np.arange(n), order[:, 0]]
    second = scores[np.arange(n), order[:, 1]] if len(ref.classes) > 1 else np.full(n, np.inf)
    nn = np.argsort(dist, axis=1)[:, : n_neighbours or k]
    out = Prediction([], [], [], [], [])
    for i in range(n):
        found = np.isfinite(best[i])
        out.character.append(ref.classes[order[i, 0]] if found else None)
        out.distance.append(float(best[i]) if found else None)
        out.runner_up.append(ref.classes[order[i, 1]] if len(ref.classes) > 1 and np.isfinite(second[i]) else None)
        out.margin.append(float(second[i] - best[i]) if found and np.isfinite(second[i]) else None)
        out.neighbours.append(
            [
                {"character": ref.characters[j], "distance": float(dist[i, j]), "episode": ref.episodes[j], "line_id": int(ref.line_ids[j])}
                for j in nn[i]
                if np.isfinite(dist[i, j])
            ]
        )
    return out


def leave_one_out(ref: Reference, ks=K_GRID, thresholds=THRESHOLD_GRID) -> dict:
    """Accuracy, precision and coverage of the per-class KNN on the reference set itself, each
    sample predicted from all the others, for a grid of k and thresholds; with suggested values.

    Replaces the older tool's KMeans "choose k", which ignored the labels.
    """
    m = len(ref.characters)
    counts = ref.counts()
    report: dict = {"samples": m, "characters": counts, "grid": [], "by_k": [], "suggested": dict(FALLBACK), "fallback": True}
    if len(counts) < 2 or min(counts.values()) < 2:
        report["reason"] = "needs at least two characters with two or more samples each"
        return report
    dist = np.clip(1.0 - ref.vectors.astype(np.float64) @ ref.vectors.T.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(dist, np.inf)
    truth = ref.characters
    best_k, best_acc, best_pred = None, -1.0, None
    for k in ks:
        scores = class_scores(dist, truth, ref.classes, k)
        idx = np.argmin(scores, axis=1)
        pred = np.asarray(ref.classes, dtype=object)[idx]
        d = scores[np.arange(m), idx]
        correct = pred == truth
        acc = float(correct.mean())
        report["by_k"].append({"k": k, "accuracy": acc, "macro_f1": macro_f1(truth.tolist(), pred.tolist())})
        for t in thresholds:
            covered = d <= t
            report["grid"].append(
                {
                    "k": k,
                    "threshold": t,
                    "coverage": float(covered.mean()),
                    "precision": float(correct[covered].mean()) if covered.any() else None,
                    "accuracy": float((correct & covered).mean()),
                }
            )
        # ties go to the k closest to 5: k=1 is brittle, a very large k blurs small classes
        if acc > best_acc + 1e-9 or (abs(acc - best_acc) <= 1e-9 and abs(k - 5) < abs(best_k - 5)):
            best_k, best_acc, best_pred = k, acc, (pred, d, correct)
    pred, d, correct = best_pred
    # impostor distances: each sample's score for the nearest *other* character. A line of a
    # character missing from the reference set looks like that, so thresholds stay below them.
    scores = class_scores(dist, truth, ref.classes, best_k)
    own = np.array([ref.classes.index(c) for c in truth])
    scores[np.arange(m), own] = np.inf
    impostor = scores.min(axis=1)
    report["impostor_distance"] = {"p5": float(np.percentile(impostor, 5)), "median": float(np.median(impostor))}
    certain = _threshold_for(d, correct, PRECISION_CERTAIN, [t for t in thresholds if t <= np.percentile(impostor, 5)] or [min(thresholds)])
    uncertain = _threshold_for(d, correct, PRECISION_UNCERTAIN, [t for t in thresholds if t <= np.median(impostor)] or [min(thresholds)])
    report["suggested"] = {"k": best_k, "certain_threshold": certain, "uncertain_threshold": max(certain, uncertain)}
    report["fallback"] = False
    report["accuracy"] = best_acc
    return report


def _threshold_for(d: np.ndarray, correct: np.ndarray, precision: float, thresholds) -> float:
    """The largest of ``thresholds`` whose covered predictions still reach ``precision``."""
    ok = [t for t in thresholds if (d <= t).any() and correct[d <= t].mean() >= precision]
    return float(max(ok)) if ok else float(min(thresholds))


def macro_f1(truth: list, pred: list) -> float:
    labels = sorted(set(truth))
    f1s = []
    for c in labels:
        tp = sum(1 for t, p in zip(truth, pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, pred) if t == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def format_evaluation(report: dict, top: int = 12) -> str:
    lines = [f"reference samples: {report['samples']}  per character: {report['characters']}"]
    if report.get("reason"):
        lines.append(f"not evaluated: {report['reason']}; defaults {report['suggested']}")
        return "\n".join(lines)
    lines.append("k    leave-one-out accuracy  macro-F1")
    for row in report["by_k"]:
        lines.append(f"{row['k']:<4} {row['accuracy']:.3f}                   {row['macro_f1']:.3f}")
    k = report["suggested"]["k"]
    lines.append(f"thresholds for k={k}: threshold  coverage  precision")
    for row in (r for r in report["grid"] if r["k"] == k):
        if row["precision"] is not None:
            lines.append(f"  {row['threshold']:.3f}      {row['coverage']:.3f}     {row['precision']:.3f}")
    s = report["suggested"]
    imp = report["impostor_distance"]
    lines.append(
        f"suggested: k={s['k']} certain_threshold={s['certain_threshold']} (precision >= {PRECISION_CERTAIN}, "
        f"below the 5th percentile {imp['p5']:.3f} of distances to other characters) "
        f"uncertain_threshold={s['uncertain_threshold']} (precision >= {PRECISION_UNCERTAIN}, below their median {imp['median']:.3f})"
    )
    return "\n".join(lines)


# -- plots for the UI ------------------------------------------------------------------------------

def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def projection_png(vectors: np.ndarray, labels: list[str], ref: Reference) -> bytes:
    """2-D PCA of the episode's line embeddings coloured by predicted character; references as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    both = np.concatenate([vectors, ref.vectors]) if len(vectors) else ref.vectors
    xy = PCA(n_components=2, random_state=0).fit_transform(both) if len(both) >= 2 else np.zeros((len(both), 2))
    lines_xy, ref_xy = xy[: len(vectors)], xy[len(vectors) :]
    names = sorted({*(lab or "?" for lab in labels), *ref.classes})
    colours = {n: plt.cm.tab10(i % 10) for i, n in enumerate(names)}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in names:
        sel = [i for i, lab in enumerate(labels) if (lab or "?") == name]
        if sel:
            ax.scatter(lines_xy[sel, 0], lines_xy[sel, 1], s=18, color=colours[name], label=name)
        rsel = ref.characters == name
        if rsel.any():
            ax.scatter(ref_xy[rsel, 0], ref_xy[rsel, 1], s=40, marker="x", color=colours[name])
    ax.set_title("line embeddings (PCA); x = reference samples")
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def histogram_png(distances: list[float], certain: float, uncertain: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([d for d in distances if d is not None], bins=30, color="#4477aa")
    ax.axvline(certain, color="green", linestyle="--", label=f"certain <= {certain}")
    ax.axvline(uncertain, color="orange", linestyle="--", label=f"uncertain <= {uncertain}")
    ax.set_xlabel("cosine distance to the predicted character")
    ax.legend(fontsize=7)
    return _png(fig)


# -- tables --------------------------------------------------------------------------------------

ENCODER_KEY = b"encoder"


def encoder_of(table: pa.Table) -> str:
    meta = table.schema.metadata or {}
    return meta.get(ENCODER_KEY, b"").decode()


def with_encoder(table: pa.Table, encoder: str) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), ENCODER_KEY: encoder.encode()})


class ReferenceSetError(ValueError):
    """A reference set that cannot be built (mixed encoders, no labels)."""


@dataclass
class LabelledEpisode:
    episode: str
    embeddings: pa.Table
    labels: list  # annotations.Label


@dataclass(frozen=True)
class Refinement:
    """Which reviewed lines join the reference set: those the model found hard."""

    min_distance: float = 0.2  # distance to the own character's nearest label sample (older tool's default)
    k: int = 5


def build_reference(episodes: list[LabelledEpisode], refinement: Refinement = Refinement()) -> tuple[pa.Table, list[str]]:
    """The reference table and warnings.

    Plain labels (``source = label``) always join. Rows saved from a review sheet are corrections
    or confirmations of predictions: they join (``source = refinement``) only when they were hard
    for the model, judged against the label samples now (not an old prediction's distance): their
    own character's nearest label sample is farther than ``min_distance``, or the per-class KNN
    over the labels names another character. Refuses to mix embeddings from different encoders.
    """
    from animespeech_assets.speakers.embeddings import vectors_of

    encoders = {e.episode: encoder_of(e.embeddings) for e in episodes}
    if len(set(encoders.values())) > 1:
        detail = ", ".join(f"{ep}: {enc}" for ep, enc in sorted(encoders.items()))
        raise ReferenceSetError(
            f"labelled episodes were embedded with different speaker encoders ({detail}); "
            "re-materialize speaker_embeddings for them with one encoder"
        )
    encoder = next(iter(encoders.values()), "")
    dim = episodes[0].embeddings.schema.field("vector").type.list_size if episodes else 0
    warnings: list[str] = []
    labels, reviewed = [], []  # (character, episode, line_id, start, end, vector)
    for e in episodes:
        valid, matrix = vectors_of(e.embeddings)
        ids = e.embeddings.column("line_id").to_pylist()
        starts = e.embeddings.column("start").to_pylist()
        ends = e.embeddings.column("end").to_pylist()
        position = {lid: i for i, lid in enumerate(ids)}
        row_of_valid = np.cumsum(valid) - 1
        for label in e.labels:
            i = position[label.line_id]
            if not valid[i]:
                warnings.append(f"{e.episode} line {label.line_id} ({label.character}) has no embedding (too short or silent)")
                continue
            item = (label.character, e.episode, label.line_id, starts[i], ends[i], matrix[row_of_valid[i]])
            (reviewed if getattr(label, "reviewed", False) else labels).append(item)
    rows = [(*item[:5], "label", None) for item in labels]
    vecs = [item[5] for item in labels]
    if reviewed:
        base = Reference(
            np.asarray(vecs, np.float32).reshape(-1, dim),
            np.asarray([r[0] for r in labels], dtype=object),
            np.asarray([r[1] for r in labels], dtype=object),
            np.asarray([r[2] for r in labels], dtype=np.int64),
        )
        for character, episode, line_id, start, end, vector in reviewed:
            if character in base.classes:
                pred = predict(vector[None, :], base, refinement.k, exclude=[(episode, line_id)])
                dist = (1.0 - base.vectors[base.characters == character] @ vector).min()
                hard = dist > refinement.min_distance or pred.character[0] != character
            else:
                dist, hard = None, True  # a character with no label sample yet
            if hard:
                rows.append((character, episode, line_id, start, end, "refinement", None if dist is None else float(dist)))
                vecs.append(vector)
    return with_encoder(_reference_table(rows, vecs, dim), encoder), warnings


def _reference_table(rows: list[tuple], vecs: list[np.ndarray], dim: int) -> pa.Table:
    flat = np.concatenate(vecs).astype(np.float32) if vecs else np.zeros(0, np.float32)
    return pa.table(
        {
            "character": pa.array([r[0] for r in rows], pa.string()),
            "episode": pa.array([r[1] for r in rows], pa.string()),
            "line_id": pa.array([r[2] for r in rows], pa.int32()),
            "start": pa.array([r[3] for r in rows], pa.float64()),
            "end": pa.array([r[4] for r in rows], pa.float64()),
            "source": pa.array([r[5] for r in rows], pa.string()),
            "refinement_distance": pa.array([r[6] for r in rows], pa.float64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
        },
        schema=reference_schema(dim),
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
    ]
)


def predictions_table(
    episode: str,
    transcript: pa.Table,
    embeddings: pa.Table,
    ref: Reference,
    labels: dict[int, str],
    k: int,
    certain: float,
    uncertain: float,
) -> pa.Table:
    """One row per transcript line, sorted by time. Human-labelled lines keep their label
    (status ``labelled``); ``predicted_character`` is what the model says for every line, the
    line itself excluded from its neighbours."""
    from animespeech_assets.speakers.embeddings import vectors_of

    valid, matrix = vectors_of(embeddings)
    ids = embeddings.column("line_id").to_pylist()
    embedded_ids = [lid for lid, v in zip(ids, valid) if v]
    pred = predict(matrix, ref, k, exclude=[(episode, lid) for lid in embedded_ids], n_neighbours=max(k, NEIGHBOURS_SHOWN))
    by_line = {lid: j for j, lid in enumerate(embedded_ids)}
    text = dict(zip(transcript.column("line_id").to_pylist(), transcript.column("text").to_pylist()))
    emb_status = embeddings.column("embedding_status").to_pylist()
    rows = []
    for lid, start, end, est in zip(ids, embeddings.column("start").to_pylist(), embeddings.column("end").to_pylist(), emb_status):
        j = by_line.get(lid)
        predicted = pred.character[j] if j is not None else None
        distance = pred.distance[j] if j is not None else None
        if lid in labels:
            character, status = labels[lid], LABELLED
        else:
            character = predicted
            status = status_of(distance if distance is not None else np.inf, certain, uncertain)
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
    if statuses - {CERTAIN, UNCERTAIN, UNKNOWN, LABELLED}:
        problems.append(f"unexpected status values {sorted(statuses)}")
    return problems
