"""Who speaks each line: a labelled reference set and a per-class cosine KNN.

The rule is "k nearest per class": a line's score for character ``c`` is the mean cosine distance
to its ``min(k, n_c)`` nearest reference samples of ``c``; the predicted character is the one
with the lowest score and the reported ``distance`` is that score. So the distance always belongs
to the predicted character (the older tool could report one character's label with another's
distance) and a character with few samples can still win (a global k-vote let big classes
outvote it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from animespeech_assets.speakers.embeddings import vectors_of
from animespeech_assets.speakers.statuses import CERTAIN, UNCERTAIN, UNKNOWN


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
    def from_table(cls, table: pa.Table, encoder: str = "") -> Reference:
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


@dataclass(frozen=True)
class Thresholds:
    """When a prediction is ``certain`` (close enough AND clear of the runner-up) or ``uncertain``."""

    certain: float  # distance at or below which a prediction can be certain
    uncertain: float  # distance at or below which it is uncertain; above: unknown
    margin: float = 0.0  # runner-up's score minus the best, at or above which it can be certain


def status_of(distance: float | None, margin: float | None, t: Thresholds) -> str:
    """``margin`` None: no runner-up (one character), the distance alone decides."""
    if distance is None or not np.isfinite(distance):
        return UNKNOWN
    if distance <= t.certain and (margin is None or margin >= t.margin):
        return CERTAIN
    return UNCERTAIN if distance <= t.uncertain else UNKNOWN


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


