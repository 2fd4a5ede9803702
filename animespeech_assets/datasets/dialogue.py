"""Dialogue datasets for LLM fine-tuning, built from speaker-attributed lines.

Per episode, ``conversations`` cuts the time-ordered lines into conversations: consecutive usable
lines whose gap lies in [0, max_gap]; a larger or negative gap, or a line that may not be used
(status not allowed, no character), ends the conversation. Per persona, ``samples`` turns every
persona line that answers someone into one training example of up to ``max_turns`` messages
(``max_turns=2``: single-turn pairs); consecutive lines of one speaker are merged into one message
so roles alternate as chat templates require. Text is used as written (digits and case kept).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa

from animespeech_assets.speakers.statuses import DATASET_STATUSES

DEFAULT_SYSTEM_PROMPT = "あなたは{persona}です。{persona}として、{persona}らしい口調で会話に返答してください。"

TURNS_SCHEMA = pa.schema(
    [
        ("conversation", pa.int32()),
        ("turn", pa.int32()),
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("gap", pa.float64()),  # seconds since the previous line of the conversation (null for the first)
        ("character", pa.string()),
        ("text", pa.string()),
        ("status", pa.string()),
        ("translation", pa.string()),  # the subtitle text when `text` was recognised (foreign subtitles)
    ]
)


@dataclass(frozen=True)
class DialogueOptions:
    max_gap: float = 5.0
    statuses: tuple[str, ...] = DATASET_STATUSES


def conversations(lines: pa.Table, options: DialogueOptions) -> pa.Table:
    """Conversation turns of one episode (``lines``: annotated lines or predictions)."""
    rows = sorted(lines.to_pylist(), key=lambda r: (r["start"], r["line_id"]))
    out, conv, turn, prev = [], 0, 0, None
    for r in rows:
        usable = r["character"] is not None and r["status"] in options.statuses and (r["text"] or "").strip()
        if not usable:
            prev = None
            continue
        gap = None if prev is None else r["start"] - prev["end"]
        if gap is None or gap < 0 or gap > options.max_gap:
            conv, turn, gap = conv + 1, 0, None
        out.append({"conversation": conv, "turn": turn, "line_id": r["line_id"], "start": r["start"], "end": r["end"],
                    "gap": gap, "character": r["character"], "text": r["text"], "status": r["status"],
                    "translation": r.get("translation")})
        turn += 1
        prev = r
    return pa.Table.from_pylist(out, schema=TURNS_SCHEMA)


@dataclass(frozen=True)
class SampleOptions:
    persona: str
    users: tuple[str, ...] = ()  # empty: anyone else
    max_turns: int = 2  # messages per sample (user/assistant), 2 = single-turn pairs
    system_prompt: str = DEFAULT_SYSTEM_PROMPT


def _merge(turns: list[dict]) -> list[dict]:
    """Consecutive turns of one speaker as one message (texts joined, provenance kept)."""
    merged: list[dict] = []
    for t in turns:
        if merged and merged[-1]["character"] == t["character"]:
            m = merged[-1]
            m["text"] += " " + t["text"]
            m["line_ids"].append(t["line_id"])
            m["end"] = t["end"]
            m["statuses"].append(t["status"])
            if t.get("translation"):
                m["translation"] = " ".join(x for x in (m["translation"], t["translation"]) if x)
        else:
            merged.append({"character": t["character"], "text": t["text"], "line_ids": [t["line_id"]],
                           "start": t["start"], "end": t["end"], "statuses": [t["status"]], "translation": t.get("translation")})
    return merged


def samples(episode: str, turns: pa.Table, opts: SampleOptions) -> list[dict]:
    """Training examples for ``opts.persona`` from one episode's conversation turns."""
    by_conv: dict[int, list[dict]] = {}
    for t in turns.to_pylist():
        by_conv.setdefault(t["conversation"], []).append(t)
    out = []
    for conv, rows in sorted(by_conv.items()):
        messages = _merge(rows)
        for i, m in enumerate(messages):
            if m["character"] != opts.persona or i == 0:
                continue
            window = []
            for prev in reversed(messages[: i + 1]):
                speaker_ok = prev["character"] == opts.persona or not opts.users or prev["character"] in opts.users
                if not speaker_ok or len(window) >= opts.max_turns:
                    break
                window.insert(0, prev)
            while window and window[0]["character"] == opts.persona:  # a sample starts with the user
                window.pop(0)
            if len(window) < 2:
                continue
            out.append(_sample(episode, conv, window, opts))
    return out


def _sample(episode: str, conv: int, window: list[dict], opts: SampleOptions) -> dict:
    system = opts.system_prompt.format(persona=opts.persona)
    messages = [{"role": "system", "content": system}]
    for m in window:
        role = "assistant" if m["character"] == opts.persona else "user"
        messages.append({"role": role, "content": m["text"]})
    key = json.dumps([m["content"] for m in messages[1:]], ensure_ascii=False)
    return {
        "id": hashlib.sha1(f"{episode}|{key}".encode()).hexdigest()[:16],
        "persona": opts.persona,
        "episode": episode,
        "conversation": conv,
        "messages": messages,
        "speakers": [m["character"] for m in window],
        "line_ids": [lid for m in window for lid in m["line_ids"]],
        "start": window[0]["start"],
        "end": window[-1]["end"],
        "statuses": sorted({s for m in window for s in m["statuses"]}),
        # the subtitle text of each message when its text was recognised (foreign subtitles), else None
        "translations": [m.get("translation") for m in window],
        "dedup_key": key,
    }


def split_episodes(episodes: list[str], validation_share: float = 0.1) -> set[str]:
    """Validation episodes: a stable, hash-ordered share of episodes (whole episodes, never split)."""
    if len(episodes) < 2:
        return set()
    ranked = sorted(episodes, key=lambda e: hashlib.sha1(e.encode()).hexdigest())
    count = max(1, round(len(episodes) * validation_share))
    return set(ranked[:count])


def dataset(all_samples: list[dict], validation_episodes: set[str]) -> tuple[list[dict], list[dict], int]:
    """Deduplicated (same message texts once, first occurrence kept), ordered, split by episode."""
    seen, train, validation, dropped = set(), [], [], 0
    for s in sorted(all_samples, key=lambda s: (s["episode"], s["start"], s["id"])):
        if s["dedup_key"] in seen:
            dropped += 1
            continue
        seen.add(s["dedup_key"])
        (validation if s["episode"] in validation_episodes else train).append(s)
    return train, validation, dropped


class DialogueError(ValueError):
    """A persona without a single dialogue sample."""


def persona_dataset(turns: dict[str, pa.Table], opts: SampleOptions, validation_share: float) -> tuple[list[dict], list[dict], int, set[str]]:
    """Train and validation samples of ``opts.persona`` from every episode's turns (by episode key),
    duplicates dropped (their count returned), whole episodes held out for validation."""
    all_samples = [s for episode, table in sorted(turns.items()) for s in samples(episode, table, opts)]
    validation_episodes = split_episodes(sorted(turns), validation_share)
    train, validation, duplicates = dataset(all_samples, validation_episodes)
    if not train and not validation:
        raise DialogueError(f"no dialogue sample for {opts.persona!r} in {len(turns)} episode(s): no line of theirs answers another character")
    return train, validation, duplicates, validation_episodes


def preview(train: list[dict], n: int = 5) -> list[dict]:
    """The last user turn and the reply of the first samples, for the asset's metadata."""
    return [{"user": s["messages"][-2]["content"], "assistant": s["messages"][-1]["content"], "episode": s["episode"]} for s in train[:n]]
