"""What the review page shows: every predicted line of every episode, least certain first, with the
human label saved for it (read from the annotation file now, so a save shows at once), the nearest
labelled neighbours and the URLs of their audio."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, cut, load_audio
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.naming import EpisodeError, check_key
from animespeech_assets.review_app.saving import current_labels
from animespeech_assets.speakers.review import LOW_TEXT_CONFIDENCE, review_order, text_confidence

CLIP_PAD = 0.15  # seconds of context either side of a line when it is played


class ReviewError(LookupError):
    """A request for an episode or line the review page does not have."""


def clip_url(episode: str, line_id: int) -> str:
    return f"/audio/{episode}/{line_id}.wav"


@dataclass
class EpisodeFiles:
    layout: DataLayout

    def episodes(self) -> list[str]:
        """Episodes with predictions (what the page can review)."""
        folder = self.layout.asset_dir("character_predictions")
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    def episode(self, key: str) -> str:
        """``key`` checked: a sanitised episode key that has predictions (never a raw path)."""
        try:
            check_key(key)
        except EpisodeError as exc:
            raise ReviewError(str(exc)) from exc
        if not self.layout.output("character_predictions", key).exists():
            raise ReviewError(f"episode {key!r} has no character predictions")
        return key

    def predictions(self, episode: str) -> pa.Table:
        return pq.read_table(self.layout.output("character_predictions", self.episode(episode)))

    def version(self, episode: str) -> str:
        """Changes whenever the episode's predictions are rewritten (a refresh after a save)."""
        st = self.layout.output("character_predictions", self.episode(episode)).stat()
        return f"{st.st_mtime_ns}-{st.st_size}"


def episode_items(files: EpisodeFiles, episode: str) -> list[dict]:
    """One item per line of ``episode``, in review order (``review_order``: doubtful recognised text first, then unknown, uncertain,
    certain by decreasing distance; lines labelled when the predictions were made come last)."""
    table = files.predictions(episode)
    labels = current_labels(files.layout.annotation_file(episode), table)
    confidence = _text_confidence(files.layout, episode)
    items = []
    for r in review_order([{**r, "text_confidence": confidence.get(r["line_id"])} for r in table.to_pylist()], keep_labelled=True):
        lab = labels.get(r["line_id"])
        items.append(
            {
                "episode": episode,
                "line_id": r["line_id"],
                "start": round(r["start"], 3),
                "end": round(r["end"], 3),
                "text": r["text"],
                "status": r["status"],
                "predicted": r["predicted_character"] or "",
                "distance": None if r["distance"] is None else round(r["distance"], 4),
                "label": lab.character if lab else "",
                "human_text": (lab.text or "") if lab else "",
                "text_confidence": confidence.get(r["line_id"]),
                "neighbours": [
                    {"character": n["character"], "distance": round(n["distance"], 4), "clip": clip_url(n["episode"], n["line_id"])}
                    for n in r["neighbours"]
                ],
                "clip": clip_url(episode, r["line_id"]),
            }
        )
    return items


def page_data(files: EpisodeFiles, episode: str | None = None) -> dict:
    """The lines to review (one episode, or all), the characters to pick from, and the counts."""
    episodes = [files.episode(episode)] if episode else files.episodes()
    items = [item for ep in episodes for item in episode_items(files, ep)]
    if not episode:  # across episodes: least certain first overall
        items = review_order(items, keep_labelled=True)
    return {
        "episodes": files.episodes(),
        "episode": episode or "",
        "low_text_confidence": LOW_TEXT_CONFIDENCE,
        "items": items,
        "characters": characters(files, items),
        "counts": {
            "status": dict(Counter(i["status"] for i in items)),
            "predicted": dict(Counter(i["predicted"] or "(none)" for i in items)),
            "labelled_now": sum(bool(i["label"]) for i in items),
        },
        "versions": {ep: files.version(ep) for ep in episodes},
    }


def characters(files: EpisodeFiles, items: list[dict]) -> list[str]:
    """The characters to pick from, most labelled first (the reference set, then labels on the page);
    their order is the number keys' order."""
    count: Counter = Counter()
    ref = files.layout.asset_file("reference_set")
    if ref.exists():
        count.update(pq.read_table(ref, columns=["character"]).column("character").to_pylist())
    count.update(i["label"] for i in items if i["label"])
    for name in {i["predicted"] for i in items if i["predicted"]}:
        count.setdefault(name, 0)  # predicted but not labelled yet: listed last
    return [c for c, _ in sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))]


def clip_wav(files: EpisodeFiles, episode: str, line_id: int, pad: float = CLIP_PAD) -> bytes:
    """A line's audio as a 16-bit WAV, cut from the episode's decoded track (no clip files needed)."""
    import soundfile as sf

    table = files.predictions(episode)
    ids = table.column("line_id").to_pylist()
    if line_id not in ids:
        raise ReviewError(f"episode {episode!r} has no line {line_id}")
    j = ids.index(line_id)
    start, end = table.column("start")[j].as_py(), table.column("end")[j].as_py()
    audio_path = files.layout.output("episode_audio", episode)
    if not audio_path.exists():
        raise ReviewError(f"{audio_path} is missing: materialize episode_audio for {episode}")
    clip = np.asarray(cut(load_audio(audio_path), ANALYSIS_SAMPLE_RATE, start - pad, end + pad))
    buf = io.BytesIO()
    sf.write(buf, clip, ANALYSIS_SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _text_confidence(layout: DataLayout, episode: str) -> dict[int, float]:
    path: Path = layout.output("transcript", episode)
    return text_confidence(pq.read_table(path, columns=["line_id", "source", "word_probability"])) if path.exists() else {}
