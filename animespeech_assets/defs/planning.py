"""The run planner: what to run for an episode, in which order. The CLI and the sensors both ask
it, so "what runs for a new episode" and "is the reference set up to date" have one answer."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.speakers import references

from .jobs import ASSETS, SHARED_ASSET_KEYS


@dataclass
class EpisodePlan:
    first: list[dg.AssetKey]  # need no labels: run first (the episode's embeddings, so its own labels can join)
    refresh_reference: bool  # then bring the reference set up to date
    then: list[dg.AssetKey]  # then everything that reads the reference set
    waiting: list[dg.AssetKey] = field(default_factory=list)  # need a reference set that cannot exist yet

    @property
    def keys(self) -> list[dg.AssetKey]:
        return self.first + self.then


def reference_code_version() -> str:
    key = dg.AssetKey("reference_set")
    return next(a.code_versions_by_key[key] for a in ASSETS if key in a.keys)


def reference_is_current(layout: DataLayout) -> bool:
    """Built by the current code from exactly the current annotation files and embeddings."""
    return references.reference_is_current(layout, reference_code_version())


def _downstream_of_reference() -> set[dg.AssetKey]:
    """Every asset that reads the shared assets, directly or through others."""
    deps = {k: set(a.asset_deps[k]) for a in ASSETS for k in a.keys}
    found, grew = set(SHARED_ASSET_KEYS), True
    while grew:
        more = {k for k, parents in deps.items() if parents & found} - found
        found |= more
        grew = bool(more)
    return found - set(SHARED_ASSET_KEYS)


def plan_episode(layout: DataLayout, keys: list[dg.AssetKey], can_build_reference: bool) -> EpisodePlan:
    """``keys`` of one episode, split around the reference set.

    Assets that read the reference set run only when one can exist: there are labels, and either
    the caller builds the reference set in between (the CLI) or one is already on disk (a sensor,
    whose single run cannot build it first; the annotations sensor and automation follow up).
    """
    downstream = _downstream_of_reference()
    first = [k for k in keys if k not in downstream]
    rest = [k for k in keys if k in downstream]
    if not rest:
        return EpisodePlan(first, False, [])
    if not references.reference_sources(layout):
        return EpisodePlan(first, False, [], waiting=rest)
    if can_build_reference:
        return EpisodePlan(first, not reference_is_current(layout), rest)
    if layout.asset_file("reference_set").exists():
        return EpisodePlan(first, False, rest)
    return EpisodePlan(first, False, [], waiting=rest)


def episodes_to_embed_first(layout: DataLayout, known: set[str]) -> list[str]:
    """Labelled episodes (among ``known`` inputs) whose embeddings are missing or out of date (another
    default encoder, say): the reference set cannot use their labels until they are embedded again
    (it refuses to mix encoders)."""
    key = dg.AssetKey("speaker_embeddings")
    return [s.episode for s in references.reference_sources(layout)
            if s.episode in known and (not s.embeddings.exists() or split_current(layout, [key], s.episode)[0])]



def split_current(layout: DataLayout, keys: list[dg.AssetKey], partition: str | None) -> tuple[dict[dg.AssetKey, str], list[dg.AssetKey]]:
    """``keys`` split into those to run, each with why, and those up to date
    (:func:`provenance.freshness.stale_reason`). An asset downstream of one that runs runs too."""
    from animespeech_assets.core.lineage import UNPARTITIONED, Ledger
    from animespeech_assets.core.naming import EpisodeError
    from animespeech_assets.ingest.episodes import find_episode
    from animespeech_assets.provenance.freshness import newest_records, stale_reason

    from .materialize import READS

    human: dict[str, list] = {}
    if partition:
        try:
            ep = find_episode(layout.inputs, partition)
            human = {"media": [ep.media], "subtitles": [ep.subtitles], "settings": [ep.settings], "annotations": [layout.annotation_file(partition)]}
        except EpisodeError:
            pass  # a character partition: no human files of its own
    newest = newest_records(Ledger(layout.lineage))
    by_key = {k: a for a in ASSETS for k in a.keys}
    why: dict[dg.AssetKey, str] = {}
    for key in keys:
        assets_def = by_key[key]
        files = [p for kind in assets_def.tags_by_key[key].get(READS, "").split(".") for p in human.get(kind, []) if p]
        reason = stale_reason(newest.get((key.to_user_string(), partition or UNPARTITIONED)), assets_def.code_versions_by_key.get(key) or "",
                              newest, files)
        if reason:
            why[key] = reason
    grew = True
    while grew:  # whatever reads an asset that runs runs too (its input is about to change)
        grew = False
        for key in keys:
            upstream = [d for d in by_key[key].asset_deps[key] if d in why]
            if key not in why and upstream:
                why[key], grew = f"{upstream[0].to_user_string()} runs first", True
    return {k: why[k] for k in keys if k in why}, [k for k in keys if k not in why]
