"""Dataset writers, one per format, in the layouts their training tools read.

Audio (one folder per character; the wavs are written once and every manifest points at them):
  wavs/<id>.wav              mono PCM 16-bit at the dataset sample rate; ids, never text, as names
  metadata.csv               LJSpeech / Piper (``ljspeech.py``)
  esd.list                   Style-Bert-VITS2 (``style_bert_vits2.py``)
  gpt_sovits.list            GPT-SoVITS (``gpt_sovits.py``)
  hf/metadata.csv + hf/*.wav Hugging Face audiofolder (``audiofolder.py``)
  clips.parquet              every clip with provenance (``provenance.py``; the asset's data version)
Dialogue (one folder per persona):
  train.jsonl, validation.jsonl                 TRL conversational (``trl.py``)
  sharegpt_train.json, sharegpt_validation.json ShareGPT (``sharegpt.py``)
  dataset.parquet                               both splits with provenance (``provenance.py``)

Adding a format is one new file with a writer class and one line in the tuple below. Folders are
written aside and swapped in whole, so a re-run replaces, never appends.
"""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.core.storage import atomic_dir, link_or_copy
from animespeech_assets.datasets.formats.audiofolder import AudioFolder
from animespeech_assets.datasets.formats.base import AudioFormat, DialogueFormat
from animespeech_assets.datasets.formats.gpt_sovits import GptSovitsList
from animespeech_assets.datasets.formats.ljspeech import LJSpeechMetadata
from animespeech_assets.datasets.formats.provenance import CLIPS_FILE, DIALOGUE_FILE, ClipsTable, DialogueTable
from animespeech_assets.datasets.formats.sharegpt import ShareGpt
from animespeech_assets.datasets.formats.style_bert_vits2 import EsdList
from animespeech_assets.datasets.formats.trl import TrlConversational

AUDIO_FORMATS: tuple[AudioFormat, ...] = (LJSpeechMetadata(), EsdList(), GptSovitsList(), AudioFolder(), ClipsTable())
DIALOGUE_FORMATS: tuple[DialogueFormat, ...] = (TrlConversational(), ShareGpt(), DialogueTable())

__all__ = ["AUDIO_FORMATS", "CLIPS_FILE", "DIALOGUE_FILE", "DIALOGUE_FORMATS", "write_audio_dataset", "write_dialogue"]


def write_dialogue(folder: Path, train: list[dict], validation: list[dict], formats=DIALOGUE_FORMATS) -> Path:
    """Every dialogue format into ``folder``; returns the provenance table (the data version)."""
    with atomic_dir(folder) as tmp:
        for fmt in formats:
            fmt.write(tmp, train, validation)
    return folder / DIALOGUE_FILE


def write_audio_dataset(folder: Path, character: str, clips: list[dict], formats=AUDIO_FORMATS) -> Path:
    """``clips``: dicts with the clip table's fields; ``source_path`` is the episode clip to link in."""
    clips = sorted(clips, key=lambda c: (c["episode"], c["start"], c["line_id"]))
    with atomic_dir(folder) as tmp:
        (tmp / "wavs").mkdir()
        for c in clips:
            link_or_copy(Path(c["source_path"]), tmp / "wavs" / f"{c['id']}.wav")
        for fmt in formats:
            fmt.write(tmp, folder, character, clips)
    return folder / CLIPS_FILE
