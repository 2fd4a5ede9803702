"""Episode discovery: which input files make up which episode, and the episode's partition key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from animespeech_assets.core.naming import EpisodeError, episode_key

VIDEO_EXTENSIONS = (".mkv", ".mp4", ".webm", ".avi", ".mov", ".m4v", ".ts", ".m2ts", ".flv", ".wmv")
# audio-only episodes work too (e.g. a radio drama or an already extracted track)
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
SUBTITLE_EXTENSIONS = (".srt", ".ass", ".ssa", ".vtt")
SETTINGS_SUFFIX = ".episode.json"  # <stem>.episode.json: a person's track and dialogue-rule choices for one episode


@dataclass(frozen=True)
class EpisodeInputs:
    key: str
    media: Path
    subtitles: Path | None  # an external subtitle file (it takes precedence over embedded tracks)
    settings: Path | None = None  # <stem>.episode.json, when there is one


def _subtitle_for(media: Path, candidates: dict[str, list[Path]], tagged_by: dict[str, list[Path]]) -> Path | None:
    """The subtitle file of ``media``: same stem (``candidates`` by stem), or same stem plus a language
    tag (``ep01.ja.srt``: ``tagged_by`` every dotted prefix of a subtitle's stem)."""
    exact = candidates.get(media.stem, [])
    tagged = tagged_by.get(media.stem, [])
    for group in (exact, tagged):
        if len(group) > 1:
            names = ", ".join(str(p) for p in sorted(group))
            raise EpisodeError(f"{media}: several subtitle files match, keep one: {names}")
        if group:
            return group[0]
    return None


def discover(inputs_dir: Path) -> dict[str, EpisodeInputs]:
    """All episodes in ``inputs_dir`` keyed by episode key. Two media files with one key is an error."""
    episodes, problems = scan(inputs_dir)
    if problems:
        raise EpisodeError("; ".join(problems))
    return episodes


def scan(inputs_dir: Path) -> tuple[dict[str, EpisodeInputs], list[str]]:
    """Like :func:`discover`, but returns the usable episodes plus a list of problems instead of
    raising, so one badly named file does not hold up every other episode (used by the sensor)."""
    episodes, problems = _scan(inputs_dir)
    return episodes, [p for found in problems.values() for p in found]


def _scan(inputs_dir: Path) -> tuple[dict[str, EpisodeInputs], dict[str | None, list[str]]]:
    """The usable episodes, and the problems by the episode key they concern (None: no usable key)."""
    inputs_dir = Path(inputs_dir)
    if not inputs_dir.is_dir():
        return {}, {}
    # files, and links to files (a media library linked in); a broken link is a problem of its episode
    files = sorted(p for p in inputs_dir.iterdir() if (p.is_file() or p.is_symlink() and not p.exists()) and not p.name.startswith("."))
    subtitles: dict[str, list[Path]] = {}
    tagged: dict[str, list[Path]] = {}
    for p in files:
        if p.suffix.lower() in SUBTITLE_EXTENSIONS:
            subtitles.setdefault(p.stem, []).append(p)
            parts = p.stem.split(".")
            for n in range(1, len(parts)):
                tagged.setdefault(".".join(parts[:n]), []).append(p)
    episodes: dict[str, EpisodeInputs] = {}
    clashing: set[str] = set()
    problems: dict[str | None, list[str]] = {}
    for media in (p for p in files if p.suffix.lower() in MEDIA_EXTENSIONS):
        key = None
        try:
            key = episode_key(media.stem)
            if not media.exists():
                raise EpisodeError(f"{media}: broken symbolic link (points to {os.readlink(media)}, which does not exist)")
            if key in episodes or key in clashing:
                first = episodes.pop(key).media if key in episodes else "another file"
                clashing.add(key)
                raise EpisodeError(f"{first} and {media} both map to episode key {key!r}; rename one of them")
            settings = media.with_name(media.stem + SETTINGS_SUFFIX)
            episodes[key] = EpisodeInputs(key, media, _subtitle_for(media, subtitles, tagged), settings if settings.is_file() else None)
        except EpisodeError as exc:
            problems.setdefault(key, []).append(str(exc) if key else f"{media}: {exc}")
    return episodes, problems


def find_episode(inputs_dir: Path, key: str) -> EpisodeInputs:
    """The inputs of one episode. Problems with other files (two names for another key) do not
    stop this one; a problem with this key's own files is the error."""
    episodes, problems = _scan(inputs_dir)
    if problems.get(key):
        raise EpisodeError("; ".join(problems[key]))
    if key not in episodes:
        known = ", ".join(sorted(episodes)) or "none"
        raise EpisodeError(f"no media file for episode {key!r} in {inputs_dir} (episodes found: {known})")
    return episodes[key]
