"""Naming shared by the dataset assets: character partition keys and clip ids."""

from __future__ import annotations

from animespeech_assets.episodes import episode_key


def character_key(name: str) -> str:
    """A character's partition key and folder name (same sanitising as episode keys)."""
    return episode_key(name)


def clip_id(episode: str, line_id: int) -> str:
    """A clip's id and file stem: where it came from, never its text."""
    return f"{episode}_{line_id:05d}"
