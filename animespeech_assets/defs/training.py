"""Training stage, per character: a LoRA/QLoRA adapter trained on the persona's dialogue dataset, and
TTS samples of its held-out lines with quality metrics."""


import dagster as dg
from pydantic import Field

from animespeech_assets.core.storage import atomic_dir
from animespeech_assets.training import adapters, speech_samples

from .datasets import audio_dataset, dialogue_dataset
from .materialize import Materialization, png
from .partitions import characters
from .pools import ON_GPU
from .resources import DataResource, SpeakerEncoderResource, SpeechRecognizerResource, TrainerResource, TtsResource, default_of

_D = adapters.LoraSettings()
# one model on a card at a time (dagster.yaml limits the pool), per character
PER_CHARACTER_ON_GPU = {"partitions_def": characters, "group_name": "training", **ON_GPU}


class QLoraConfig(dg.Config):
    base_model: str = Field(default=_D.base_model, description="Hugging Face id (cached) or folder; empty: embedded Gemma 3 270M")
    rank: int = Field(default=_D.rank)
    alpha: int = Field(default=_D.alpha)
    dropout: float = Field(default=_D.dropout)
    target_modules: list[str] = Field(default=list(_D.target_modules))
    max_steps: int = Field(default=_D.max_steps, description="> 0: train this many steps; 0: use epochs")
    epochs: float = Field(default=_D.epochs)
    learning_rate: float = Field(default=_D.learning_rate)
    batch_size: int = Field(default=_D.batch_size)
    gradient_accumulation: int = Field(default=_D.gradient_accumulation)
    max_length: int = Field(default=_D.max_length, description="tokens per sample")
    seed: int = Field(default=_D.seed)
    chat_samples: int = Field(default=_D.chat_samples, description="replies generated to held-out user turns")

    def settings(self) -> adapters.LoraSettings:
        return adapters.LoraSettings(**{**self.model_dump(), "target_modules": tuple(self.target_modules)})


@dg.asset(
    **PER_CHARACTER_ON_GPU,
    deps=[dialogue_dataset],
    code_version="1",
    kinds={"pytorch", "safetensors"},
    description="A LoRA adapter (QLoRA 4-bit on CUDA) for one character, trained with TRL on its dialogue dataset; "
    "validation loss before/after, loss curve and chat samples in the metadata.",
)
def qlora_adapter(context: dg.AssetExecutionContext, config: QLoraConfig, data: DataResource, trainer: TrainerResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    dataset = m.read("dialogue_dataset").parent
    settings, device = config.settings(), trainer.resolved_device()
    report = adapters.train_character(dataset, settings, m.layout.folder("qlora_adapter", m.partition), device, data.model_cache,
                                     context.log.info)
    context.log.info(f"validation loss {report.validation_loss_before:.4f} -> {report.validation_loss_after:.4f}")
    return m.done(
        row_count=report.train_samples, extra_outputs=[m.folder()],
        parameters={**settings.__dict__, "target_modules": list(settings.target_modules), "device": device, "mode": report.mode},
        models={"base": report.base_model},
        metadata={**adapters.report_metadata(report), "chat_samples": dg.MetadataValue.json(report.chat_samples),
                  "loss_curve": png(adapters.loss_curve_png(report), "loss curve"), "folder": dg.MetadataValue.path(str(m.folder()))},
    )


class TtsSamplesConfig(dg.Config):
    samples: int = Field(default=4, description="held-out lines spoken per character")
    reference_clips: int = Field(default=5, description="clips of the character that define its voice")


@dg.asset(
    **PER_CHARACTER_ON_GPU,
    deps=[audio_dataset],
    code_version="1+" + default_of(SpeakerEncoderResource, "backend", "model"),  # the voice is cast by embeddings
    kinds={"onnx", "wav"},
    description="A character's held-out lines spoken by the TTS backend (cloning from its reference clips where it "
    "can), with intelligibility (CER of the recogniser) and speaker similarity per sample.",
)
def tts_samples(context: dg.AssetExecutionContext, config: TtsSamplesConfig, data: DataResource, tts: TtsResource,
                speaker_encoder: SpeakerEncoderResource, speech_recognizer: SpeechRecognizerResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    clips_path = m.read("audio_dataset")
    references, held_out = speech_samples.split_dataset(clips_path, config.reference_clips, config.samples)
    encoder, backend, recognizer = speaker_encoder.load(), tts.load(), speech_recognizer.load()
    voice = speech_samples.voice_of(references, clips_path.parent / "wavs", encoder)
    choice, details = speech_samples.cast_voice(backend, voice, encoder)
    with atomic_dir(m.folder()) as tmp:
        rows = speech_samples.speak(backend, recognizer, speech_recognizer.language, encoder, voice, held_out, tmp, context.log.info)
    return m.done(
        row_count=len(rows), extra_outputs=[m.folder()],
        parameters={"samples": config.samples, "reference_clips": config.reference_clips, "backend": tts.backend_name, **choice},
        models={"tts": backend.model_id, "speaker_encoder": encoder.model_id, "asr": recognizer.model_id},
        metadata={**choice, **{k: dg.MetadataValue.json(v) for k, v in details.items()}, **speech_samples.summary(rows),
                  "samples": dg.MetadataValue.json([{k: r[k] for k in ("id", "text", "recognised", "cer", "speaker_similarity")} for r in rows])},
    )

