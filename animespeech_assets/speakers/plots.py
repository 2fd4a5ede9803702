"""Pictures of the speaker stage for the UI: the embedding projection and the distance histogram."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from animespeech_assets.core.plots import colour, figure, png_bytes
from animespeech_assets.speakers.embeddings import vectors_of
from animespeech_assets.speakers.knn import Reference


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The rows of ``x`` on their first two principal components (SVD of the centred matrix; each
    component's sign fixed so its largest loading is positive, as scikit-learn does)."""
    if len(x) < 2:
        return np.zeros((len(x), 2))
    centred = np.asarray(x, np.float64) - np.mean(x, axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:2] * np.sign(vt[:2][np.arange(min(2, len(vt))), np.argmax(np.abs(vt[:2]), axis=1)])[:, None]
    xy = centred @ vt.T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def projection_png(vectors: np.ndarray, labels: list[str], ref: Reference) -> bytes:
    """2-D PCA of the episode's line embeddings coloured by predicted character; references as crosses."""
    both = np.concatenate([vectors, ref.vectors]) if len(vectors) else ref.vectors
    xy = pca_2d(both)
    lines_xy, ref_xy = xy[: len(vectors)], xy[len(vectors) :]
    fig, ax = figure(figsize=(6, 4.5))
    names = sorted({*(lab or "?" for lab in labels), *ref.classes})
    colours = {n: colour(i) for i, n in enumerate(names)}
    for name in names:
        sel = [i for i, lab in enumerate(labels) if (lab or "?") == name]
        if sel:
            ax.scatter(lines_xy[sel, 0], lines_xy[sel, 1], s=18, color=colours[name], label=name)
        rsel = ref.characters == name
        if rsel.any():
            ax.scatter(ref_xy[rsel, 0], ref_xy[rsel, 1], s=40, marker="x", color=colours[name])
    ax.set_title("line embeddings (PCA); x = reference samples")
    ax.legend(fontsize=7, loc="best")
    return png_bytes(fig)


def histogram_png(distances: list[float], certain: float, uncertain: float) -> bytes:
    fig, ax = figure(figsize=(6, 3))
    ax.hist([d for d in distances if d is not None], bins=30, color="#4477aa")
    ax.axvline(certain, color="green", linestyle="--", label=f"certain <= {certain}")
    ax.axvline(uncertain, color="orange", linestyle="--", label=f"uncertain <= {uncertain}")
    ax.set_xlabel("cosine distance to the predicted character")
    ax.legend(fontsize=7)
    return png_bytes(fig)


def prediction_plots(table: pa.Table, embeddings: pa.Table, ref: Reference, certain: float, uncertain: float) -> tuple[bytes, bytes]:
    """The projection of an episode's embedded lines by predicted character, and its distance histogram."""
    _, matrix = vectors_of(embeddings)  # rows in line order, as the embedded lines below
    rows = sorted(table.to_pylist(), key=lambda r: r["line_id"])
    labels = [r["character"] for r in rows if r["distance"] is not None]
    return projection_png(matrix, labels, ref), histogram_png(table.column("distance").to_pylist(), certain, uncertain)
