"""Names the pipeline derives: episode and character partition keys, clip ids.

Keys come from file names and people's labels; they are sanitised here, in one place, and never
used as raw paths.
"""

from __future__ import annotations

import re
import unicodedata

MAX_KEY_LENGTH = 120
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class EpisodeError(ValueError):
    """Input files that cannot be turned into an episode."""


def episode_key(stem: str) -> str:
    """The partition key of a file stem: NFKC, whitespace and unsafe characters to ``_``.

    Word characters of any script are kept (Japanese titles stay readable); path separators,
    ``..`` and leading dots never survive, so a key is always a safe single path component.
    """
    key = unicodedata.normalize("NFKC", stem).strip()
    key = _UNSAFE.sub("_", key)
    key = re.sub(r"\.{2,}", "_", key)
    key = re.sub(r"_{2,}", "_", key).strip("._-")
    if not key:
        raise EpisodeError(f"file name {stem!r} leaves no usable episode key")
    return key[:MAX_KEY_LENGTH]


def check_key(key: str) -> str:
    """Reject a key that is not already in sanitised form (for keys given on the command line)."""
    if episode_key(key) != key:
        raise EpisodeError(f"{key!r} is not a valid episode key (expected {episode_key(key)!r})")
    return key


def character_key(name: str) -> str:
    """A character's partition key and folder name (same sanitising as episode keys)."""
    return episode_key(name)


def clip_id(episode: str, line_id: int) -> str:
    """A clip's id and file stem: where it came from, never its text."""
    return f"{episode}_{line_id:05d}"
