"""Which subtitle events are dialogue: fansub ASS files are mostly not.

Typeset signs (their own styles, ``\\pos``/``\\move`` positioning, upper layers, events placed over
the dialogue), OP/ED karaoke (``\\k`` tags, song styles) and songs marked with ♪, translator notes,
drawings (``\\p``) and comments would each become a "line", get a speaker and end up in datasets.
``classify`` gives the reason an event is not dialogue (or None); the rule is configurable with style
patterns (``include_styles`` always dialogue, ``exclude_styles`` never), and every dropped event is
kept, with its reason, in the transcript's side table so a person can check the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMENT, DRAWING, KARAOKE, SONG, SIGN, NOTE, STYLE = "comment", "drawing", "karaoke", "song", "sign", "note", "excluded_style"
REASONS = (COMMENT, DRAWING, KARAOKE, SONG, SIGN, NOTE, STYLE)

_SONG_STYLE = re.compile(r"(^|[\W_])(op|ed|opening|ending|insert|song|songs|lyrics?|kara(oke)?|romaji|kanji|theme)([\W_\d]|$)",
                         re.IGNORECASE)
_SIGN_STYLE = re.compile(r"(^|[\W_])(signs?|typeset|ts|title|screen|caption|eyecatch|next ?ep(isode)?|preview|board|card|text)([\W_\d]|$)",
                         re.IGNORECASE)
_NOTE_STYLE = re.compile(r"(^|[\W_])(notes?|tl|t/?n|translator|credits?|staff)([\W_\d]|$)", re.IGNORECASE)
_NOTE_TEXT = re.compile(r"^\s*(\{[^}]*\}\s*)*(tl ?note|t/n|tn:|translator'?s? note)", re.IGNORECASE)
_KARAOKE_TAG = re.compile(r"\\(k|kf|ko|K)\d")
_POSITION_TAG = re.compile(r"\\(pos|move|org|clip|iclip)\(")
_DRAWING_TAG = re.compile(r"\\p[1-9]")
_MUSIC = re.compile(r"^[\s♪♫♬〜～~]*[♪♫♬]")


@dataclass(frozen=True)
class DialogueRule:
    include_styles: tuple[str, ...] = ()  # regular expressions (case-insensitive) of styles that are always dialogue
    exclude_styles: tuple[str, ...] = ()  # ... and of styles that never are

    def describe(self) -> str:
        parts = ["drop comments, drawings, karaoke and songs (\\k tags, song styles, ♪ lines), signs (sign styles, "
                 "\\pos/\\move on an upper layer or over another line), notes"]
        if self.include_styles:
            parts.append(f"always keep styles {list(self.include_styles)}")
        if self.exclude_styles:
            parts.append(f"always drop styles {list(self.exclude_styles)}")
        return "; ".join(parts)


def _matches(patterns: tuple[str, ...], style: str) -> bool:
    return any(re.search(p, style, re.IGNORECASE) for p in patterns)


def classify(event, rule: DialogueRule, overlaps_dialogue: bool) -> str | None:
    """Why a ``pysubs2.SSAEvent`` is not dialogue, or None when it is. ``overlaps_dialogue``: another
    unpositioned event is on screen at the same time (a sign placed over the dialogue)."""
    style = event.style or ""
    text = event.text or ""
    if event.is_comment:
        return COMMENT
    if event.is_drawing or _DRAWING_TAG.search(text):
        return DRAWING
    if _matches(rule.include_styles, style):
        return None
    if _matches(rule.exclude_styles, style):
        return STYLE
    if _KARAOKE_TAG.search(text):
        return KARAOKE
    if _SONG_STYLE.search(style) or _MUSIC.match(event.plaintext or ""):
        return SONG
    if _NOTE_STYLE.search(style) or _NOTE_TEXT.match(text):
        return NOTE
    if _SIGN_STYLE.search(style):
        return SIGN
    if _POSITION_TAG.search(text) and (event.layer > 0 or overlaps_dialogue):
        return SIGN
    return None


def positioned(event) -> bool:
    return bool(_POSITION_TAG.search(event.text or ""))
