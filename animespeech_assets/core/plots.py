"""Figures as PNG bytes (shown inline in the Dagster UI), rendered without a display."""

from __future__ import annotations

import io


def figure(**kwargs):
    """A new matplotlib figure and axes, drawn by Agg (``matplotlib.figure.Figure`` directly: no
    pyplot, so no GUI backend, no global figure registry, and a quarter second less to import)."""
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    return fig, fig.subplots()


def colour(i: int):
    """The ``i``-th colour of the tab10 palette (cycling)."""
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def png_bytes(fig) -> bytes:
    """The figure as PNG (no timestamp or software tag, so the bytes depend only on the picture)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()
