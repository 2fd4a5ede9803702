"""Subtitle tracks inside a media file, demuxed with PyAV, as the text of a subtitle file.

ASS/SSA in Matroska: the header (script info and styles) is the track's codec private data and each
packet is an event without its times (``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,
Text``); the times are the packet's (in ms, not rounded to ASS centiseconds). SRT and WebVTT packets
hold a cue's text; MP4's mov_text a 2-byte length and UTF-8 text (then style boxes). Every track
becomes a ``pysubs2.SSAFile``, as an external file does, so one set of rules applies to both.
"""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.ingest.subtitles import srt_time
from animespeech_assets.ingest.tracks import TEXT_SUBTITLE_CODECS, Track

ASS_EVENTS_FORMAT = "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"


class EmbeddedSubtitleError(ValueError):
    """A subtitle track that cannot be read; the message names the file and the track."""


def where(media: Path, track: Track) -> str:
    return f"{media} (subtitle track #{track.index}, {track.codec})"


def track_events(media: Path, track: Track):
    """The events of an embedded text subtitle track as a ``pysubs2.SSAFile`` (styles included for ASS)."""
    import av
    import pysubs2

    kind = TEXT_SUBTITLE_CODECS.get(track.codec)
    if kind is None:
        raise EmbeddedSubtitleError(f"{where(media, track)}: not a text subtitle track")
    events = []
    try:
        with av.open(str(media)) as container:
            stream = container.streams[track.index]
            header = bytes(stream.codec_context.extradata or b"").decode("utf-8", errors="replace")
            tb = stream.time_base
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                start = int(round(float(packet.pts * tb) * 1000))
                events.append((start, start + int(round(float((packet.duration or 0) * tb) * 1000)), bytes(packet)))
    except av.error.FFmpegError as exc:
        raise EmbeddedSubtitleError(f"{where(media, track)}: cannot be demuxed ({exc})") from exc
    if not events:
        raise EmbeddedSubtitleError(f"{where(media, track)}: the track holds no subtitle events")
    if kind == "ass":
        return _ass(header, events, media, track)
    return pysubs2.SSAFile.from_string(_srt(events, kind), format_="srt")


def _ass(header: str, events: list[tuple[int, int, bytes]], media: Path, track: Track):
    import pysubs2

    head = header.split("[Events]")[0].rstrip() if header.strip() else "[Script Info]\nScriptType: v4.00+"
    try:
        subs = pysubs2.SSAFile.from_string(f"{head}\n\n[Events]\n{ASS_EVENTS_FORMAT}\n", format_="ass")
    except Exception as exc:  # pysubs2 raises a variety of errors on malformed headers
        raise EmbeddedSubtitleError(f"{where(media, track)}: malformed ASS header ({exc})") from exc
    ordered = []
    for start, end, data in events:
        fields = data.decode("utf-8", errors="replace").split(",", 8)
        if len(fields) < 9 or not fields[1].strip().lstrip("-").isdigit():
            raise EmbeddedSubtitleError(f"{where(media, track)}: malformed ASS event at {start / 1000:.3f} s: {data[:60]!r}")
        read_order, layer, style, name, ml, mr, mv, effect, text = fields
        order = int(read_order) if read_order.strip().lstrip("-").isdigit() else len(ordered)
        ordered.append((order, pysubs2.SSAEvent(start=start, end=end, text=text, style=style, name=name, effect=effect,
                                                layer=int(layer), marginl=_int(ml), marginr=_int(mr), marginv=_int(mv))))
    subs.events = [ev for _, ev in sorted(ordered, key=lambda x: x[0])]
    return subs


def _int(x: str) -> int:
    return int(x) if x.strip().lstrip("-").isdigit() else 0


def _srt(events: list[tuple[int, int, bytes]], kind: str) -> str:
    blocks = []
    for n, (start, end, data) in enumerate(events, start=1):
        if kind == "mov_text":
            size = int.from_bytes(data[:2], "big")
            text = data[2:2 + size].decode("utf-8", errors="replace")
        else:
            text = data.decode("utf-8", errors="replace")
        text = text.replace("\r\n", "\n").strip()
        if text:
            blocks.append(f"{n}\n{srt_time(start)} --> {srt_time(end)}\n{text}\n")
    return "\n".join(blocks)
