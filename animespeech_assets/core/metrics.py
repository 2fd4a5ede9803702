"""Text metrics for speech recognition and TTS intelligibility: character error rate, plain and
by reading (kana), so that a kanji/kana spelling choice is not counted as an error."""

from __future__ import annotations

import re
import unicodedata

_NOT_KANA = re.compile(r"[^\u30a0-\u30ff]+")


def normalise(text: str) -> str:
    """NFKC, lower-case Latin, punctuation and spaces removed (the plain CER's view of text)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S", "C")))


def reading(text: str) -> str:
    """The katakana reading (pyopenjtalk), long-vowel marks and punctuation removed."""
    import pyopenjtalk

    kana = pyopenjtalk.g2p(unicodedata.normalize("NFKC", text), kana=True)
    return _NOT_KANA.sub("", kana).replace("ー", "")


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference length) on normalised text; sum both over a corpus, then divide."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def kana_cer(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = reading(reference), reading(hypothesis)
    return edit_distance(ref, hyp), len(ref)
