"""The Llasa TTS backend through its real code: llama.cpp loads a Llama GGUF with Llasa's vocabulary,
the prompt carries the reference clip's XCodec2 codes, generation is held to speech tokens, and
XCodec2 decodes them. The models are small random ones built here (tiny_llasa.py)."""

import numpy as np
import pytest

from animespeech_assets.backends.tts import LlasaBackend, SpeechVocabulary, XCodec2, llasa_prompt

from .tiny_llasa import CODEC_LEVELS, save_tiny_xcodec2, write_llasa_gguf

pytestmark = pytest.mark.models  # every test here loads a real model

CODES = int(np.prod(CODEC_LEVELS))
HOP = 320  # samples per code at 16 kHz


@pytest.fixture(scope="module")
def tiny_llasa(tmp_path_factory):
    root = tmp_path_factory.mktemp("llasa")
    ids = write_llasa_gguf(root / "llasa.gguf", speech_tokens=CODES)
    return root / "llasa.gguf", save_tiny_xcodec2(root / "xcodec2"), ids


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_llasa_prompt_puts_reference_text_first_and_continues_its_speech():
    prompt = llasa_prompt("こんにちは", "参照。", [5, 17])
    assert prompt == (
        "<|start_header_id|>user<|end_header_id|>\n\nConvert the text to speech:<|TEXT_UNDERSTANDING_START|>"
        "参照。こんにちは<|TEXT_UNDERSTANDING_END|><|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        "<|SPEECH_GENERATION_START|><|s_5|><|s_17|>"
    )


def test_speech_vocabulary_keeps_codes_up_to_the_end_token_and_masks_the_rest():
    vocabulary = SpeechVocabulary(first=100, size=4, end=7)
    assert vocabulary.codes([5, 100, 103, 42, 101, 7, 102]) == [0, 3, 1]
    mask = vocabulary.mask(110)
    assert np.flatnonzero(np.isfinite(mask)).tolist() == [7, 100, 101, 102, 103]
    assert (mask[np.isfinite(mask)] == 0).all()


def test_xcodec2_encodes_50_codes_a_second_and_decodes_320_samples_a_code(tiny_llasa):
    _, codec_dir, _ = tiny_llasa
    codec = XCodec2(str(codec_dir))
    assert (codec.sample_rate, codec.codebook_size) == (16000, CODES)
    codes = codec.encode(tone(1.0))
    assert len(codes) in (50, 51) and all(0 <= c < CODES for c in codes)
    audio = codec.decode(codes)
    assert audio.dtype == np.float32 and audio.shape == (len(codes) * HOP,) and np.isfinite(audio).all()


def test_llasa_backend_prompts_with_reference_codes_generates_speech_only_and_decodes(tiny_llasa):
    gguf, codec_dir, ids = tiny_llasa
    backend = LlasaBackend(str(gguf), str(codec_dir), device="cpu", max_tokens=40, seed=3)
    assert backend.vocabulary == SpeechVocabulary(ids["<|s_0|>"], CODES, ids["<|SPEECH_GENERATION_END|>"])
    reference = tone(0.6)
    reference_codes = backend.codec.encode(reference)

    # the prompt as llama.cpp tokenizes it: special tokens whole, the reference speech as its code tokens
    prompt = llasa_prompt("こんにちは", "参照。", reference_codes)
    tokens = backend._tokenize(prompt, bos=True)
    assert tokens[0] == ids["<|begin_of_text|>"]
    assert tokens[-len(reference_codes) - 1:] == [ids["<|SPEECH_GENERATION_START|>"]] + [ids["<|s_0|>"] + c for c in reference_codes]
    for special in ("<|TEXT_UNDERSTANDING_START|>", "<|TEXT_UNDERSTANDING_END|>", "<|eot_id|>"):
        assert ids[special] in tokens

    # generation: random weights, but the mask leaves only speech tokens and the end token
    generated = backend.speech_tokens(prompt)
    assert 0 < len(generated) <= 40
    speech = range(ids["<|s_0|>"], ids["<|s_0|>"] + CODES)
    assert all(t in speech for t in generated[:-1])
    assert generated[-1] in speech or generated[-1] == ids["<|SPEECH_GENERATION_END|>"]

    audio = backend.synthesize("こんにちは", reference, "参照。")
    codes = backend.vocabulary.codes(generated)
    assert audio.shape == (len(codes) * HOP,) and np.isfinite(audio).all()
    assert np.array_equal(audio, backend.synthesize("こんにちは", reference, "参照。"))  # seeded: reproducible


def test_llasa_backend_names_the_file_when_the_gguf_is_missing_or_not_llasa(tiny_llasa, tmp_path):
    _, codec_dir, _ = tiny_llasa
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        LlasaBackend(str(tmp_path / "missing.gguf"), str(codec_dir))
    small = tmp_path / "small-vocab.gguf"
    write_llasa_gguf(small, speech_tokens=CODES // 2)  # fewer speech tokens than the codec has codes
    with pytest.raises(ValueError, match="small-vocab.gguf"):
        LlasaBackend(str(small), str(codec_dir))
