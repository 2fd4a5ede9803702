"""Figures as PNG bytes (shown inline in the Dagster UI), rendered without a display."""

from __future__ import annotations

import io


def figure(**kwargs):
    """A new matplotlib figure and axes on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(**kwargs)


def png_bytes(fig) -> bytes:
    """The figure as PNG (no timestamp or software tag, so the bytes depend only on the picture); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
