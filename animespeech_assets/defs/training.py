"""Training stage, per character: a LoRA/QLoRA adapter trained on the persona's dialogue dataset, and
TTS samples of its held-out lines with quality metrics."""

import json
from typing import List

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.tts import CODEC, KokoroBackend, LlasaBackend, nearest_kokoro_voice
from animespeech_assets.lineage import utcnow
from animespeech_assets.speech_samples import SAMPLES_FILE, speak, split_clips, summary, voice_of
from animespeech_assets.storage import atomic_dir
from animespeech_assets.training import LoraSettings, loss_curve_png, train_adapter, write_report

from .datasets import audio_dataset, dialogue_dataset
from .identify import SpeakerEncoderResource
from .ingest import SpeechRecognizerResource
from .partitions import characters
from .recording import finish, require, upstream
from .resources import DataResource
from .visuals import png_markdown

_D = LoraSettings()


class TrainerResource(dg.ConfigurableResource):
    """Where adapters train: auto | cpu | cuda | cuda:N (CUDA: 4-bit QLoRA; CPU: LoRA in fp32)."""

    device: str = Field(default="auto")


class QLoraConfig(dg.Config):
    base_model: str = Field(default=_D.base_model, description="Hugging Face id (cached) or folder; empty: embedded Gemma 3 270M")
    rank: int = Field(default=_D.rank)
    alpha: int = Field(default=_D.alpha)
    dropout: float = Field(default=_D.dropout)
    target_modules: List[str] = Field(default=list(_D.target_modules))
    max_steps: int = Field(default=_D.max_steps, description="> 0: train this many steps; 0: use epochs")
    epochs: float = Field(default=_D.epochs)
    learning_rate: float = Field(default=_D.learning_rate)
    batch_size: int = Field(default=_D.batch_size)
    gradient_accumulation: int = Field(default=_D.gradient_accumulation)
    max_length: int = Field(default=_D.max_length, description="tokens per sample")
    seed: int = Field(default=_D.seed)
    chat_samples: int = Field(default=_D.chat_samples, description="replies generated to held-out user turns")

    def settings(self) -> LoraSettings:
        values = self.model_dump()
        values["target_modules"] = tuple(values["target_modules"])
        return LoraSettings(**values)


@dg.asset(
    partitions_def=characters,
    deps=[dialogue_dataset],
    group_name="training",
    code_version="1",
    pool="gpu",
    kinds={"pytorch", "safetensors"},
    description="A LoRA adapter (QLoRA 4-bit on CUDA) for one character, trained with TRL on its dialogue dataset; "
    "validation loss before/after, loss curve and chat samples in the metadata.",
)
def qlora_adapter(context: dg.AssetExecutionContext, config: QLoraConfig, data: DataResource, trainer: TrainerResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    key = context.partition_key
    folder = layout.exports / "dialogue" / key
    dataset_path = require(folder / "dataset.parquet", "dialogue_dataset", key)
    read = lambda name: [json.loads(line)["messages"] for line in (folder / name).read_text(encoding="utf-8").splitlines() if line]  # noqa: E731
    settings = config.settings()
    device = resolve_device(trainer.device)
    out_dir = layout.exports / "adapters" / key
    with atomic_dir(out_dir) as tmp:
        report = train_adapter(read("train.jsonl"), read("validation.jsonl"), settings, tmp, device, layout.cache / "models")
        write_report(report, settings, tmp)
    context.log.info(f"validation loss {report.validation_loss_before:.4f} -> {report.validation_loss_after:.4f}")
    return finish(
        context, data, outputs=[out_dir / "adapter" / "adapter_model.safetensors", out_dir], row_count=report.train_samples,
        started_at=started, inputs=[upstream("dialogue_dataset", key, dataset_path)],
        parameters={**settings.__dict__, "target_modules": list(settings.target_modules), "device": device, "mode": report.mode},
        models={"base": report.base_model},
        metadata={
            "mode": report.mode,
            "validation_loss_before": report.validation_loss_before,
            "validation_loss_after": report.validation_loss_after,
            "train_samples": report.train_samples,
            "validation_samples": report.validation_samples,
            "steps": report.steps,
            "tokens_per_second": round(report.tokens_per_second, 1),
            "peak_gpu_memory_gib": report.peak_gpu_memory_gib if report.peak_gpu_memory_gib is not None else "n/a (CPU)",
            "chat_template": report.chat_template,
            "chat_samples": dg.MetadataValue.json(report.chat_samples),
            "loss_curve": dg.MetadataValue.md(png_markdown(loss_curve_png(report), "loss curve")),
            "folder": dg.MetadataValue.path(str(out_dir)),
        },
    )


class TtsResource(dg.ConfigurableResource):
    """The TTS backend: kokoro (default, CPU, no download) or llasa (GGUF + XCodec2)."""

    backend: str = Field(default="kokoro", description="kokoro | llasa")
    model: str = Field(default="", description="llasa: path of the Llasa GGUF")
    codec: str = Field(default=CODEC, description="llasa: XCodec2 (transformers format) id in the local cache, or folder")
    device: str = Field(default="auto")
    seed: int = Field(default=0, description="llasa: sampling seed")


class TtsSamplesConfig(dg.Config):
    samples: int = Field(default=4, description="held-out lines spoken per character")
    reference_clips: int = Field(default=5, description="clips of the character that define its voice")


@dg.asset(
    partitions_def=characters,
    deps=[audio_dataset],
    group_name="training",
    code_version="1",
    pool="gpu",
    kinds={"onnx", "wav"},
    description="A character's held-out lines spoken by the TTS backend (cloning from its reference clips where it "
    "can), with intelligibility (CER of the recogniser) and speaker similarity per sample.",
)
def tts_samples(
    context: dg.AssetExecutionContext,
    config: TtsSamplesConfig,
    data: DataResource,
    tts: TtsResource,
    speaker_encoder: SpeakerEncoderResource,
    speech_recognizer: SpeechRecognizerResource,
) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    key = context.partition_key
    clips_path = require(layout.exports / "audio" / key / "clips.parquet", "audio_dataset", key)
    try:
        references, held_out = split_clips(pq.read_table(clips_path).to_pylist(), config.reference_clips, config.samples, clips_path)
    except ValueError as error:
        raise dg.Failure(str(error)) from error
    encoder = speaker_encoder.load()
    voice = voice_of(references, clips_path.parent / "wavs", encoder)
    choice, shown = {}, {}
    if tts.backend == "kokoro":
        name, distance, all_distances = nearest_kokoro_voice(voice.centre, encoder)
        backend = KokoroBackend(name)
        choice = {"voice": name, "voice_distance": round(distance, 4)}
        shown = {"voice_distances": dg.MetadataValue.json({v: round(d, 4) for v, d in all_distances.items()})}
    elif tts.backend == "llasa":
        backend = LlasaBackend(tts.model, tts.codec, resolve_device(tts.device), seed=tts.seed)
        choice = {"voice_prompt": voice.clips[voice.prompt]["id"], "seed": tts.seed}
    else:
        raise dg.Failure(f"unknown TTS backend {tts.backend!r}; expected kokoro or llasa")
    recognizer = speech_recognizer.load(str(layout.cache / "models"))
    out_dir = layout.exports / "tts_samples" / key
    with atomic_dir(out_dir) as tmp:
        rows = speak(backend, recognizer, speech_recognizer.language, encoder, voice, held_out, tmp)
    return finish(
        context, data, outputs=[out_dir / SAMPLES_FILE, out_dir], row_count=len(rows), started_at=started,
        inputs=[upstream("audio_dataset", key, clips_path)],
        parameters={"samples": config.samples, "reference_clips": config.reference_clips, "backend": tts.backend, **choice},
        models={"tts": backend.model_id, "speaker_encoder": encoder.model_id, "asr": recognizer.model_id},
        metadata={
            **choice,
            **shown,
            **summary(rows),
            "samples": dg.MetadataValue.json([{k: r[k] for k in ("id", "text", "recognised", "cer", "speaker_similarity")} for r in rows]),
        },
    )
