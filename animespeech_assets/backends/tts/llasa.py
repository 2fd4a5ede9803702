"""Anime-Llasa (a Llasa GGUF) through llama-cpp-python for the speech tokens and XCodec2
(transformers' ``Xcodec2Model``) to encode the voice prompt and decode the result, with the
character's reference clip as the voice prompt (the Anime-Llasa web UI's approach); GPU when
llama.cpp was built with CUDA. Needs the ``llasa`` extra."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animespeech_assets.backends.tts.base import TTS_BACKENDS

CODEC = "HKUSTAudio/xcodec2-hf"


class XCodec2:
    """XCodec2 through transformers' ``Xcodec2Model``: speech <-> one stream of integer codes (50 a second
    at 16 kHz, ``codebook_size`` values), the vocabulary Llasa speaks in."""

    def __init__(self, model: str = CODEC, device: str = "cpu"):
        from transformers import AutoFeatureExtractor, Xcodec2Model

        self.model = Xcodec2Model.from_pretrained(model).to(device).eval()
        self.features = AutoFeatureExtractor.from_pretrained(model)
        self.sample_rate = int(self.model.config.sampling_rate)
        self.codebook_size = int(np.prod(self.model.config.quantization_levels))
        self.device = device

    def encode(self, audio: np.ndarray) -> list[int]:
        import torch

        inputs = self.features(np.asarray(audio, np.float32), sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            codes = self.model.encode(**inputs.to(self.device)).audio_codes
        return codes[0, 0].tolist()

    def decode(self, codes: list[int]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            audio = self.model.decode(audio_codes=torch.tensor([[codes]], device=self.device)).audio_values
        return audio[0, 0].float().cpu().numpy()


def llasa_prompt(text: str, reference_text: str, reference_codes: list[int]) -> str:
    """The Llasa chat prompt (Llama 3 turns): the reference transcript and target text, then the
    reference's speech tokens as the start of the assistant's speech, which the model continues in
    that voice. The tokenizer adds ``<|begin_of_text|>``."""
    speech = "".join(f"<|s_{c}|>" for c in reference_codes)
    user = f"Convert the text to speech:<|TEXT_UNDERSTANDING_START|>{reference_text}{text}<|TEXT_UNDERSTANDING_END|>"
    return (
        f"<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>"
        f"<|start_header_id|>assistant<|end_header_id|>\n\n<|SPEECH_GENERATION_START|>{speech}"
    )


@dataclass(frozen=True)
class SpeechVocabulary:
    """Where the speech tokens ``<|s_0|>`` ... ``<|s_{size-1}|>`` sit in the model's vocabulary."""

    first: int
    size: int
    end: int  # <|SPEECH_GENERATION_END|>

    def codes(self, tokens: list[int]) -> list[int]:
        """The codec codes among ``tokens``, up to the end-of-speech token."""
        out = []
        for token in tokens:
            if token == self.end:
                break
            if self.first <= token < self.first + self.size:
                out.append(token - self.first)
        return out

    def mask(self, n_vocab: int) -> np.ndarray:
        """Additive logit mask that leaves only speech tokens and the end-of-speech token."""
        mask = np.full(n_vocab, -np.inf, np.float32)
        mask[self.first:self.first + self.size] = 0.0
        mask[self.end] = 0.0
        return mask


def speech_vocabulary(tokenize, size: int, source: str = "the Llasa model") -> SpeechVocabulary:
    """Find the speech tokens with ``tokenize(text) -> ids``; they must be ``size`` consecutive ids."""

    def single(text: str) -> int:
        ids = tokenize(text)
        if len(ids) != 1:
            raise ValueError(f"{source}: {text!r} is not one token ({ids}); not a Llasa vocabulary")
        return ids[0]

    first, last = single("<|s_0|>"), single(f"<|s_{size - 1}|>")
    if last - first != size - 1:
        raise ValueError(f"{source}: speech tokens <|s_0|>..<|s_{size - 1}|> are not consecutive ids ({first}..{last})")
    return SpeechVocabulary(first, size, single("<|SPEECH_GENERATION_END|>"))


class LlasaBackend:
    """Llasa through llama-cpp-python: the prompt holds the reference clip's codes, the model continues
    with speech tokens only (a logit mask keeps text tokens out), XCodec2 turns them into audio."""

    clones = True

    def __init__(self, gguf: str, codec: str = CODEC, device: str = "cpu", max_tokens: int = 1500,
                 temperature: float = 0.8, top_p: float = 1.0, seed: int = 0, n_ctx: int = 4096):
        if not gguf:
            raise ValueError("the llasa backend needs the path of a Llasa GGUF (TtsResource.model)")
        if not Path(gguf).is_file():
            raise FileNotFoundError(f"{gguf}: Llasa GGUF not found")
        from llama_cpp import Llama

        gpu_layers = -1 if device.startswith("cuda") else 0
        self.llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_gpu_layers=gpu_layers, seed=seed, verbose=False)
        self.codec = XCodec2(codec, device)
        self.sample_rate = self.codec.sample_rate
        self.vocabulary = speech_vocabulary(self._tokenize, self.codec.codebook_size, str(gguf))
        self.max_tokens, self.temperature, self.top_p, self.seed = max_tokens, temperature, top_p, seed
        self.model_id = f"llasa:{Path(gguf).name}+{codec}"

    def choose_voice(self, centre: np.ndarray, encoder) -> tuple[dict, dict]:
        """Llasa clones the reference clip given to ``synthesize``; only the seed is a choice."""
        return {"seed": self.seed}, {}

    def _tokenize(self, text: str, bos: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def speech_tokens(self, prompt: str) -> list[int]:
        """The tokens the model generates after ``prompt`` (restricted to speech), up to and
        including the end-of-speech token or ``max_tokens``."""
        from llama_cpp import LogitsProcessorList

        tokens = self._tokenize(prompt, bos=True)
        room = self.llm.n_ctx() - len(tokens)
        if room < 2:
            raise ValueError(f"Llasa prompt is {len(tokens)} tokens, the context {self.llm.n_ctx()}: use a shorter reference clip")
        mask = self.vocabulary.mask(self.llm.n_vocab())
        out: list[int] = []
        self.llm.set_seed(self.seed)
        for token in self.llm.generate(tokens, temp=self.temperature, top_p=self.top_p, top_k=0, reset=True,
                                       logits_processor=LogitsProcessorList([lambda _ids, scores: scores + mask])):
            out.append(token)
            if token == self.vocabulary.end or len(out) >= min(self.max_tokens, room):
                break
        return out

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        """``text`` spoken in the voice of ``reference`` (16 kHz mono, transcript ``reference_text``)."""
        from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, resample

        prompt_codes = [] if reference is None else self.codec.encode(resample(reference, ANALYSIS_SAMPLE_RATE, self.codec.sample_rate))
        prompt = llasa_prompt(text, reference_text if reference is not None else "", prompt_codes)
        codes = self.vocabulary.codes(self.speech_tokens(prompt))
        if not codes:
            raise RuntimeError(f"Llasa produced no speech tokens for {text[:30]!r}")
        return self.codec.decode(codes)


@TTS_BACKENDS.register("llasa", default_model="")
def load(model: str, codec: str, device: str, seed: int) -> LlasaBackend:
    return LlasaBackend(model, codec or CODEC, device, seed=seed)
