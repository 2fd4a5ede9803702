"""Training stage, per character: a LoRA/QLoRA adapter trained on the persona's dialogue dataset, and
TTS samples of its held-out lines with quality metrics."""

import json
from typing import List

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from pydantic import Field

from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.tts import KokoroBackend, LlasaBackend, nearest_kokoro_voice
from animespeech_assets.metrics import cer, kana_cer
from animespeech_assets.lineage import utcnow
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
    codec: str = Field(default="HKUSTAudio/xcodec2", description="llasa: XCodec2 id (cached) or folder")
    device: str = Field(default="auto")


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
    clips = pq.read_table(clips_path).to_pylist()
    if len(clips) < 2:
        raise dg.Failure(f"{clips_path}: {len(clips)} clip(s); need reference clips and at least one held-out line")
    references = clips[: min(config.reference_clips, len(clips) - 1)]
    held_out = clips[len(references):][-config.samples:]
    wav_dir = layout.exports / "audio" / key / "wavs"
    reference_audio = [load_wav_16k(wav_dir / f"{c['id']}.wav") for c in references]
    encoder = speaker_encoder.load()
    centre = encoder.embed(reference_audio).mean(axis=0)
    centre = centre / np.linalg.norm(centre)
    choice = {}
    if tts.backend == "kokoro":
        voice, distance, all_distances = nearest_kokoro_voice(centre, encoder)
        backend = KokoroBackend(voice)
        choice = {"voice": voice, "voice_distance": round(distance, 4), "voice_distances": all_distances}
    elif tts.backend == "llasa":
        backend = LlasaBackend(tts.model, tts.codec, resolve_device(tts.device))
    else:
        raise dg.Failure(f"unknown TTS backend {tts.backend!r}; expected kokoro or llasa")
    recognizer = speech_recognizer.load(str(layout.cache / "models"))
    out_dir = layout.exports / "tts_samples" / key
    rows = []
    with atomic_dir(out_dir) as tmp:
        for c in held_out:
            audio = backend.synthesize(c["text"], reference_audio[0] if backend.clones else None, references[0]["text"])
            sf.write(tmp / f"{c['id']}.wav", audio, backend.sample_rate, subtype="PCM_16")
            audio16 = resample_to_16k(audio, backend.sample_rate)
            heard = "".join(s.text for s in recognizer.transcribe(audio16, speech_recognizer.language))
            e, n = cer(c["text"], heard)
            ke, kn = kana_cer(c["text"], heard)
            similarity = float(encoder.embed([audio16])[0] @ centre)
            rows.append({"id": c["id"], "text": c["text"], "recognised": heard, "cer": e / max(n, 1), "kana_cer": ke / max(kn, 1),
                         "edits": e, "chars": n, "speaker_similarity": similarity, "path": str(out_dir / f"{c['id']}.wav")})
        pq.write_table(pa.Table.from_pylist(rows), tmp / "samples.parquet")
    corpus_cer = sum(r["edits"] for r in rows) / max(1, sum(r["chars"] for r in rows))
    return finish(
        context, data, outputs=[out_dir / "samples.parquet", out_dir], row_count=len(rows), started_at=started,
        inputs=[upstream("audio_dataset", key, clips_path)],
        parameters={"samples": config.samples, "reference_clips": config.reference_clips, "backend": tts.backend, **{k: v for k, v in choice.items() if k != "voice_distances"}},
        models={"tts": backend.model_id, "speaker_encoder": encoder.model_id, "asr": recognizer.model_id},
        metadata={
            **{k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v) for k, v in choice.items()},
            "cer": round(corpus_cer, 4),
            "kana_cer": round(sum(r["kana_cer"] for r in rows) / len(rows), 4),
            "speaker_similarity": round(float(np.mean([r["speaker_similarity"] for r in rows])), 4),
            "samples": dg.MetadataValue.json([{k: r[k] for k in ("id", "text", "recognised", "cer", "speaker_similarity")} for r in rows]),
        },
    )


def load_wav_16k(path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32")
    return resample_to_16k(audio if audio.ndim == 1 else audio.mean(axis=1), sr)


def resample_to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(16000, sr)
    return resample_poly(np.asarray(audio, np.float64), 16000 // g, sr // g).astype(np.float32)
