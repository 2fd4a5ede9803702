"""The tracks of a release and which ones an episode uses.

A release is one media file with several audio tracks (Japanese, an English dub that is often the
first and the default, a commentary) and subtitle tracks (ASS/SRT/WebVTT in MKV, mov_text in MP4,
or images: PGS/VobSub), plus perhaps an external subtitle file of the same stem, which takes
precedence. Tracks are chosen by language (``TrackPreferences``), and every choice comes with the
rule that made it, in words, for the asset metadata; ``<stem>.episode.json`` beside the media file
overrides it per episode (``EpisodeSettings``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from animespeech_assets.core.textio import TextFileError

# ISO 639-1 and common spellings -> ISO 639-2/B as Matroska stores them
_LANGUAGES = {
    "ja": "jpn", "jp": "jpn", "jpn": "jpn", "japanese": "jpn", "en": "eng", "eng": "eng", "english": "eng",
    "zh": "chi", "chi": "chi", "zho": "chi", "chinese": "chi", "ko": "kor", "kor": "kor", "korean": "kor",
    "es": "spa", "spa": "spa", "fr": "fre", "fra": "fre", "fre": "fre", "de": "ger", "deu": "ger", "ger": "ger",
    "pt": "por", "por": "por", "it": "ita", "ita": "ita", "ru": "rus", "rus": "rus", "ar": "ara", "ara": "ara",
}
_WHISPER = {"jpn": "ja", "eng": "en", "chi": "zh", "kor": "ko", "spa": "es", "fre": "fr", "ger": "de", "por": "pt",
            "ita": "it", "rus": "ru", "ara": "ar"}
UNDETERMINED = "und"
TEXT_SUBTITLE_CODECS = {"ass": "ass", "ssa": "ass", "subrip": "srt", "srt": "srt", "text": "srt", "webvtt": "vtt", "mov_text": "mov_text"}
# bitmap subtitles (as FFmpeg's decoders name them: PGS, VobSub, DVB, XSUB): no text to read
IMAGE_SUBTITLE_CODECS = {"pgssub", "hdmv_pgs_subtitle", "dvdsub", "dvd_subtitle", "dvbsub", "dvb_subtitle", "xsub"}
COMMENTARY = re.compile(r"comment|コメンタリー|audio description|descriptive|narration for", re.IGNORECASE)
SIGNS_ONLY = re.compile(r"signs?\b|songs?\b|forced|karaoke", re.IGNORECASE)


def language(tag: str | None) -> str:
    """An ISO 639-2 code for a track's language tag (``und`` when missing or unknown)."""
    if not tag:
        return UNDETERMINED
    t = tag.strip().lower().split("-")[0].split("_")[0]
    return _LANGUAGES.get(t, t if len(t) == 3 else UNDETERMINED)


def whisper_language(code: str) -> str | None:
    """The recogniser's language code for an ISO 639-2 code (None when unknown)."""
    return _WHISPER.get(code)


@dataclass(frozen=True)
class Track:
    index: int  # stream index in the container
    kind: str  # audio | subtitle
    codec: str
    language: str
    title: str = ""
    default: bool = False
    forced: bool = False
    channels: int = 0

    @property
    def usable(self) -> bool:
        return self.kind == "audio" or self.codec in TEXT_SUBTITLE_CODECS

    def describe(self) -> str:
        flags = [f for f, on in (("default", self.default), ("forced", self.forced)) if on]
        unusable = ", image: unusable" if self.codec in IMAGE_SUBTITLE_CODECS else ", unsupported"
        extra = f", {self.channels} ch" if self.kind == "audio" else ("" if self.usable else unusable)
        title = f" {self.title!r}" if self.title else ""
        return f"#{self.index} {self.kind} {self.codec} {self.language}{title}{extra}" + (f" ({', '.join(flags)})" if flags else "")


def probe(path: Path) -> list[Track]:
    """The audio and subtitle tracks of a media file, in stream order (PyAV; nothing is decoded)."""
    from animespeech_assets.core.audio import open_media

    container = open_media(path)
    with container:
        tracks = []
        for s in container.streams:
            if s.type not in ("audio", "subtitle"):
                continue
            disposition = int(s.disposition)
            codec = s.codec_context.name if s.codec_context is not None else "unknown"  # no decoder in this FFmpeg
            tracks.append(Track(s.index, s.type, codec, language(s.metadata.get("language")),
                                s.metadata.get("title", ""), bool(disposition & 0x1), bool(disposition & 0x40),
                                int(getattr(s.codec_context, "channels", 0) or 0) if s.type == "audio" else 0))
    return tracks


@dataclass(frozen=True)
class TrackPreferences:
    """Languages in order of preference; ``*`` means any language."""

    audio_languages: tuple[str, ...] = ("jpn",)
    subtitle_languages: tuple[str, ...] = ("jpn", "*")


SETTINGS_KEYS = {"audio": int, "subtitles": (int, str), "audio_language": str, "subtitle_language": str,
                 "include_styles": list, "exclude_styles": list}


@dataclass(frozen=True)
class EpisodeSettings:
    """``<stem>.episode.json``: a person's choices for one episode (all optional)."""

    path: Path | None = None
    audio: int | None = None  # stream index of the audio track
    subtitles: int | str | None = None  # stream index, "external" or "none"
    audio_language: str | None = None
    subtitle_language: str | None = None
    include_styles: tuple[str, ...] = ()
    exclude_styles: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path | None) -> EpisodeSettings:
        if path is None or not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TextFileError(f"{path}: not a readable JSON object ({exc})") from exc
        if not isinstance(raw, dict):
            raise TextFileError(f"{path}: expected a JSON object with keys {sorted(SETTINGS_KEYS)}")
        unknown = sorted(set(raw) - set(SETTINGS_KEYS))
        if unknown:
            raise TextFileError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(SETTINGS_KEYS)}")
        for key, value in raw.items():
            if not isinstance(value, SETTINGS_KEYS[key]) or isinstance(value, bool):
                raise TextFileError(f"{path}: {key!r} must be {SETTINGS_KEYS[key]}, not {value!r}")
        subs = raw.get("subtitles")
        if isinstance(subs, str) and subs not in ("external", "none"):
            raise TextFileError(f"{path}: 'subtitles' must be a stream index, \"external\" or \"none\", not {subs!r}")
        for key in ("include_styles", "exclude_styles"):
            for pattern in raw.get(key, []):
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as exc:
                    raise TextFileError(f"{path}: {key}: {pattern!r} is not a regular expression ({exc})") from exc
        return cls(path, raw.get("audio"), subs, raw.get("audio_language"), raw.get("subtitle_language"),
                   tuple(raw.get("include_styles", ())), tuple(raw.get("exclude_styles", ())))


@dataclass(frozen=True)
class Choice:
    track: Track | None  # None: no track (subtitles: external file or none)
    rule: str  # why, in words (asset metadata)


@dataclass(frozen=True)
class SubtitleChoice:
    kind: str  # external | embedded | none
    track: Track | None
    external: Path | None
    rule: str
    language: str = UNDETERMINED
    unusable: list[str] = field(default_factory=list)  # image subtitle tracks, described


def choose_audio(tracks: list[Track], prefs: TrackPreferences, settings: EpisodeSettings, media: Path) -> Choice:
    audio = [t for t in tracks if t.kind == "audio"]
    if not audio:
        from animespeech_assets.core.audio import MediaError

        raise MediaError(f"{media}: no audio stream")
    if settings.audio is not None:
        chosen = next((t for t in audio if t.index == settings.audio), None)
        if chosen is None:
            raise TextFileError(f"{settings.path}: 'audio': {settings.audio} is not an audio stream of {media} "
                                f"(audio streams: {[t.index for t in audio]})")
        return Choice(chosen, f"stream #{chosen.index} set in {settings.path.name}")
    wanted = (language(settings.audio_language),) if settings.audio_language else prefs.audio_languages
    for lang in wanted:
        same = [t for t in audio if lang == "*" or t.language == language(lang)]
        if not same:
            continue
        main = [t for t in same if not COMMENTARY.search(t.title)] or same
        skipped = [t for t in same if t not in main]
        chosen = _first(main)
        rule = f"language {chosen.language} (preferred: {', '.join(wanted)})"
        if len(same) > 1:
            rule += f"; {len(same)} such tracks: " + (f"skipped {', '.join(f'#{t.index}' for t in skipped)} as commentary, " if skipped else "")
            rule += f"took #{chosen.index} ({'the default one' if chosen.default else 'the first in stream order'})"
        return Choice(chosen, rule)
    if len(audio) == 1:
        return Choice(audio[0], f"the only audio track (language {audio[0].language}; preferred: {', '.join(wanted)})")
    chosen = _first(audio)
    return Choice(chosen, f"no track in {', '.join(wanted)}: took the {'default' if chosen.default else 'first'} track #{chosen.index}")


def choose_subtitles(tracks: list[Track], external: Path | None, prefs: TrackPreferences, settings: EpisodeSettings) -> SubtitleChoice:
    subs = [t for t in tracks if t.kind == "subtitle"]
    text = [t for t in subs if t.usable]
    unusable = [t.describe() for t in subs if not t.usable]
    if settings.subtitles == "none":
        return SubtitleChoice("none", None, None, f"subtitles turned off in {settings.path.name}", unusable=unusable)
    if isinstance(settings.subtitles, int):
        chosen = next((t for t in text if t.index == settings.subtitles), None)
        if chosen is None:
            raise TextFileError(f"{settings.path}: 'subtitles': {settings.subtitles} is not a text subtitle stream "
                                f"(text subtitle streams: {[t.index for t in text]})")
        return SubtitleChoice("embedded", chosen, None, f"stream #{chosen.index} set in {settings.path.name}", chosen.language, unusable)
    if external is not None:
        lang = language(_language_tag(external))
        why = "set in " + settings.path.name if settings.subtitles == "external" else "an external file of the same stem takes precedence"
        return SubtitleChoice("external", None, external, f"{external.name}: {why}", lang, unusable)
    if settings.subtitles == "external":
        raise TextFileError(f"{settings.path}: 'subtitles': \"external\" but there is no subtitle file beside the media file")
    wanted = (language(settings.subtitle_language),) if settings.subtitle_language else prefs.subtitle_languages
    for lang in wanted:
        same = [t for t in text if lang == "*" or t.language == language(lang)]
        if not same:
            continue
        full = [t for t in same if not t.forced and not SIGNS_ONLY.search(t.title)] or same
        chosen = _first(full)
        rule = f"language {chosen.language} (preferred: {', '.join(wanted)})"
        if len(full) < len(same):
            rule += f"; skipped {', '.join(f'#{t.index}' for t in same if t not in full)} as signs/songs only"
        return SubtitleChoice("embedded", chosen, None, rule, chosen.language, unusable)
    if unusable:
        return SubtitleChoice("none", None, None, "only image or unsupported subtitles (unusable as text): transcribed by "
                              "speech recognition", unusable=unusable)
    return SubtitleChoice("none", None, None, "no subtitles: transcribed by speech recognition", unusable=unusable)


def _first(tracks: list[Track]) -> Track:
    """The default-disposition track, else the first in stream order."""
    return next((t for t in tracks if t.default), tracks[0])


def _language_tag(path: Path) -> str | None:
    """``ep01.ja.srt`` -> ``ja``; ``ep01.srt`` -> None."""
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and 2 <= len(parts[-2]) <= 3 and parts[-2].isalpha() else None


@dataclass(frozen=True)
class ReleasePlan:
    """Which tracks of an episode's release the pipeline uses, and why."""

    media: Path
    tracks: list[Track]
    audio: Choice
    subtitles: SubtitleChoice
    settings: EpisodeSettings
    preferences: TrackPreferences

    @property
    def audio_language(self) -> str:
        """The spoken language: the chosen audio track's, else the first preferred one."""
        lang = self.audio.track.language if self.audio.track else UNDETERMINED
        return lang if lang != UNDETERMINED else language(self.preferences.audio_languages[0])

    def summary(self) -> dict:
        """Every track with what was chosen and why (asset metadata, `animespeech scan`)."""
        chosen = {self.audio.track.index if self.audio.track else None, self.subtitles.track.index if self.subtitles.track else None}
        return {
            "tracks": [{"index": t.index, "kind": t.kind, "codec": t.codec, "language": t.language, "title": t.title,
                        "default": t.default, "forced": t.forced, "usable": t.usable, "chosen": t.index in chosen} for t in self.tracks],
            "audio": {"track": self.audio.track.index if self.audio.track else None, "rule": self.audio.rule},
            "subtitles": {"source": self.subtitles.kind, "track": self.subtitles.track.index if self.subtitles.track else None,
                          "file": str(self.subtitles.external) if self.subtitles.external else None,
                          "language": self.subtitles.language, "rule": self.subtitles.rule, "unusable": self.subtitles.unusable},
            "settings_file": str(self.settings.path) if self.settings.path else None,
        }


def plan_release(media: Path, external: Path | None, settings_path: Path | None, prefs: TrackPreferences) -> ReleasePlan:
    tracks = probe(media)
    settings = EpisodeSettings.read(settings_path)
    return ReleasePlan(media, tracks, choose_audio(tracks, prefs, settings, media),
                       choose_subtitles(tracks, external, prefs, settings), settings, prefs)
