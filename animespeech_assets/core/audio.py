"""Decoding an episode's audio track, once, with PyAV (FFmpeg's libraries, no subprocess)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animespeech_assets.core.progress import Progress

ANALYSIS_SAMPLE_RATE = 16_000
OUTPUT_FRAME_SECONDS = 10
SILENT_PEAK = 1e-4  # -80 dBFS: a track whose every sample is below this carries no speech (a wrong or blank track)


class MediaError(ValueError):
    """A media file that cannot be decoded as expected; the message names the file."""


@dataclass(frozen=True)
class SourceAudio:
    """What the source's audio stream was, before decoding."""

    codec: str
    sample_rate: int
    channels: int
    declared_duration: float | None
    stream_index: int = 0
    start: float = 0.0  # the first decoded sample's time in the media's timeline (subtitle times are shifted by it)


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def open_media(path: Path):
    """``av.open`` with errors that name the file and say what is wrong."""
    import av

    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise MediaError(f"{path}: broken symbolic link (points to {os.readlink(path)}, which does not exist)")
    try:
        if path.stat().st_size == 0:
            raise MediaError(f"{path}: the file is empty (0 bytes)")
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open as a media file ({exc})") from exc


def decode_audio(path: Path, sample_rate: int = ANALYSIS_SAMPLE_RATE, stream_index: int | None = None,
                 log: Callable[[str], None] | None = None) -> tuple[np.ndarray, SourceAudio]:
    """Decode an audio stream of ``path`` (``stream_index``, default the first) to mono float32 at
    ``sample_rate`` in one pass, with progress (on a terminal, and to ``log`` now and then).

    Raises :class:`MediaError` naming the file when it cannot be opened, has no audio stream,
    is corrupt, or decodes to clearly less audio than its container declares (truncated).
    """
    import av  # FFmpeg bindings; imported here so light modules stay light

    path = Path(path)
    container = open_media(path)
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream (streams: {[s.type for s in container.streams]})")
        if stream_index is None:
            stream = container.streams.audio[0]
        else:
            stream = next((s for s in container.streams.audio if s.index == stream_index), None)
            if stream is None:
                raise MediaError(f"{path}: stream #{stream_index} is not an audio stream "
                                 f"(audio streams: {[s.index for s in container.streams.audio]})")
        ctx = stream.codec_context
        if ctx is None:
            raise MediaError(f"{path}: audio stream #{stream.index} is in a codec this FFmpeg build has no decoder for; "
                             "convert the track, e.g. ffmpeg -i IN -map 0 -c copy -c:a flac OUT.mkv")
        source = SourceAudio(
            codec=ctx.name,
            sample_rate=int(ctx.sample_rate or stream.sample_rate or 0),
            channels=int(ctx.channels or 0),
            declared_duration=_declared_duration(container, stream),
            stream_index=stream.index,
        )
        first_pts = None
        # FFmpeg downmixes any layout (5.1 keeps the centre's dialogue) to stereo; the mean of the two
        # channels is then the mono signal without FFmpeg's +3 dB mono gain that can push peaks past 1.0
        # (FFmpeg buffers the output into 10-second frames: one numpy conversion per 10 s, not per 21 ms packet)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate, frame_size=OUTPUT_FRAME_SECONDS * sample_rate)
        chunks: list[np.ndarray] = []
        decoded = 0
        progress = Progress(f"decoding {path.name}", source.declared_duration or 0, "s of audio", log)
        try:
            for frame in container.decode(stream):
                progress.advance(frame.samples / (frame.sample_rate or source.sample_rate or 1))
                if first_pts is None and frame.pts is not None and frame.time_base is not None:
                    first_pts = float(frame.pts * frame.time_base)
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().mean(axis=0)
                    chunks.append(chunk)
                    decoded += chunk.size
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"{path}: audio stream is corrupt or truncated after {decoded / sample_rate:.2f} s ({exc})"
            ) from exc
    progress.finish()
    if first_pts:
        source = dataclasses.replace(source, start=first_pts)
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise MediaError(f"{path}: the audio stream decodes to no samples")
    duration = samples.size / sample_rate
    if float(np.abs(samples).max()) < SILENT_PEAK:
        raise MediaError(f"{path}: audio stream #{source.stream_index} is silent (no sample above -80 dBFS in {duration:.1f} s); "
                         "if the episode has another audio track, choose it in <stem>.episode.json ({\"audio\": N})")
    declared = source.declared_duration
    if declared and duration < declared - max(0.5, 0.02 * declared):
        raise MediaError(
            f"{path}: truncated: the container declares {declared:.2f} s of audio but only "
            f"{duration:.2f} s could be decoded"
        )
    return samples, source


def first_sample_time(path: Path, stream_index: int) -> float:
    """The time of the first decoded sample of an audio stream in the media's timeline (usually 0;
    not 0 in some MPEG-TS and re-muxed files), read from its first frame."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(container.streams[stream_index]):
            if frame.pts is not None and frame.time_base is not None:
                return float(frame.pts * frame.time_base)
    return 0.0


def load_audio(path: Path) -> np.ndarray:
    """The stored analysis audio (``.npy``, float32 mono), memory-mapped."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def cut(samples: np.ndarray, sample_rate: int, start: float, end: float) -> np.ndarray:
    """The samples between ``start`` and ``end`` seconds, clamped to the signal (a view, no copy)."""
    a = max(0, int(round(start * sample_rate)))
    b = min(len(samples), int(round(end * sample_rate)))
    return samples[a:max(a, b)]


def resample(samples: np.ndarray, sample_rate: int, target: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    """``samples`` at ``target`` Hz (polyphase filter), float32."""
    if sample_rate == target:
        return np.asarray(samples, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(target, sample_rate)
    return resample_poly(np.asarray(samples, np.float64), target // g, sample_rate // g).astype(np.float32)


def read_clip(path: Path, sample_rate: int = ANALYSIS_SAMPLE_RATE) -> np.ndarray:
    """A short audio file (WAV, FLAC) as mono float32 at ``sample_rate``."""
    import soundfile as sf

    try:
        samples, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise MediaError(f"{path}: cannot read audio: {error}") from error
    return resample(samples.mean(axis=1), sr, sample_rate)
