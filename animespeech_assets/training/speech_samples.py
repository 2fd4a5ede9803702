"""TTS samples of a character's held-out lines, and the figures people judge a voice by:
intelligibility (character error rate of the recogniser on the sample against the text, plain and
in kana) and speaker similarity (cosine of speaker embeddings) to the character's reference clips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, read_clip, resample
from animespeech_assets.core.layout import EXPORT_FOLDERS
from animespeech_assets.core.metrics import cer, kana_cer
from animespeech_assets.core.progress import Progress

SAMPLES_FILE = EXPORT_FOLDERS["tts_samples"][1]  # the asset's primary file


@dataclass
class Voice:
    """A character's voice as its reference clips define it."""

    clips: list[dict]  # rows of the audio dataset's clips.parquet
    audio: list[np.ndarray]  # 16 kHz mono
    centre: np.ndarray  # unit mean speaker embedding
    prompt: int  # index of the clip nearest the centre: the voice prompt for cloning backends

    @property
    def prompt_audio(self) -> np.ndarray:
        return self.audio[self.prompt]

    @property
    def prompt_text(self) -> str:
        return self.clips[self.prompt]["text"]


def split_clips(clips: list[dict], reference_clips: int, samples: int, source: Path) -> tuple[list[dict], list[dict]]:
    """The first clips define the voice; the last ``samples`` of the rest are the held-out lines."""
    if len(clips) < 2:
        raise ValueError(f"{source}: {len(clips)} clip(s); need reference clips and at least one held-out line")
    references = clips[: min(reference_clips, len(clips) - 1)]
    return references, clips[len(references):][-samples:]


def voice_of(references: list[dict], wav_dir: Path, encoder) -> Voice:
    audio = [read_clip(wav_dir / f"{c['id']}.wav") for c in references]
    vectors = encoder.embed(audio)
    centre = vectors.mean(axis=0)
    centre = centre / np.linalg.norm(centre)
    return Voice(references, audio, centre, int(np.argmax(vectors @ centre)))


def speak(backend, recognizer, language: str, encoder, voice: Voice, lines: list[dict], folder: Path,
          log: Callable[[str], None] | None = None) -> list[dict]:
    """Speak each line into ``folder/<id>.wav`` (16-bit PCM at the backend's rate), recognise it and
    embed it; one row per line, also written to ``folder/samples.parquet``. Progress per sample."""
    rows = []
    progress = Progress("TTS samples", len(lines), "samples", log)
    for line in lines:
        reference = voice.prompt_audio if backend.clones else None
        audio = backend.synthesize(line["text"], reference, voice.prompt_text)
        path = folder / f"{line['id']}.wav"
        sf.write(path, audio, backend.sample_rate, subtype="PCM_16")
        audio16 = resample(audio, backend.sample_rate, ANALYSIS_SAMPLE_RATE)
        heard = "".join(s.text for s in recognizer.transcribe(audio16, language))
        edits, chars = cer(line["text"], heard)
        kana_edits, kana_chars = kana_cer(line["text"], heard)
        rows.append({
            "id": line["id"], "text": line["text"], "recognised": heard, "file": path.name,
            "duration": round(len(audio) / backend.sample_rate, 3),
            "cer": edits / max(chars, 1), "kana_cer": kana_edits / max(kana_chars, 1), "edits": edits, "chars": chars,
            "speaker_similarity": float(encoder.embed([audio16])[0] @ voice.centre),
        })
        progress.advance(1)
    progress.finish()
    pq.write_table(pa.Table.from_pylist(rows), folder / SAMPLES_FILE)
    return rows


def summary(rows: list[dict]) -> dict[str, float]:
    """Corpus CER (edits over characters), mean kana CER and mean speaker similarity."""
    return {
        "cer": round(sum(r["edits"] for r in rows) / max(1, sum(r["chars"] for r in rows)), 4),
        "kana_cer": round(float(np.mean([r["kana_cer"] for r in rows])), 4),
        "speaker_similarity": round(float(np.mean([r["speaker_similarity"] for r in rows])), 4),
    }


def split_dataset(clips_path: Path, reference_clips: int, samples: int) -> tuple[list[dict], list[dict]]:
    """A character's audio dataset (``clips.parquet``) split into reference clips and held-out lines."""
    return split_clips(pq.read_table(clips_path).to_pylist(), reference_clips, samples, clips_path)


def cast_voice(backend, voice: Voice, encoder) -> tuple[dict, dict]:
    """Settle the backend's voice for the character: what was chosen (parameters) and details (metadata)."""
    choice, details = backend.choose_voice(voice.centre, encoder)
    if backend.clones:
        choice = {"voice_prompt": voice.clips[voice.prompt]["id"], **choice}
    return choice, details
