"""Small random Llasa models built here, so the Llasa backend runs through its real loading,
prompting, generation and decoding code without the hub: a Llama GGUF with Llasa's special and
speech tokens (written with the ``gguf`` package, read by llama.cpp) and an XCodec2 with tiny layers
(transformers' ``Xcodec2Model``, saved as a Hugging Face folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPECIAL = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
    "<|TEXT_UNDERSTANDING_START|>", "<|TEXT_UNDERSTANDING_END|>",
    "<|SPEECH_GENERATION_START|>", "<|SPEECH_GENERATION_END|>",
]
CODEC_LEVELS = [4, 4, 4, 4]  # 256 codes


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (the byte-level BPE alphabet Llama 3 uses)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in keep:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def write_llasa_gguf(path: Path, speech_tokens: int, n_embd: int = 32, n_head: int = 4, n_layer: int = 2,
                     n_ff: int = 64, seed: int = 0) -> dict[str, int]:
    """A random-weight Llama GGUF whose vocabulary is the 256 bytes, Llasa's special tokens and
    ``<|s_0|>`` ... ``<|s_{speech_tokens-1}|>``; returns the token ids by text."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens = _byte_symbols() + ["Ġt"] + SPECIAL + [f"<|s_{i}|>" for i in range(speech_tokens)]
    normal, control = gguf.TokenType.NORMAL, gguf.TokenType.CONTROL
    types = [normal] * 257 + [control] * (len(SPECIAL) + speech_tokens)
    ids = {t: i for i, t in enumerate(tokens)}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llasa-test")
    w.add_context_length(4096)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t"])
    w.add_bos_token_id(ids["<|begin_of_text|>"])
    w.add_eos_token_id(ids["<|eot_id|>"])
    w.add_add_bos_token(True)

    def random(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.05).astype(np.float32))

    random("token_embd.weight", len(tokens), n_embd)
    w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    random("output.weight", len(tokens), n_embd)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, np.float32))
        for part in ("q", "k", "v", "output"):
            random(f"blk.{i}.attn_{part}.weight", n_embd, n_embd)
        random(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        random(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        random(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return ids


def save_tiny_xcodec2(folder: Path, seed: int = 0) -> Path:
    """A random XCodec2 with tiny layers (the real code paths, 16 kHz, 320 samples a code)."""
    import torch
    from transformers import Xcodec2Config, Xcodec2FeatureExtractor, Xcodec2Model

    semantic = {"model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 64, "output_hidden_size": 32, "conv_depthwise_kernel_size": 3}
    config = Xcodec2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=2, head_dim=16, encoder_hidden_size=4, semantic_model_config=semantic,
                           quantization_dim=64, quantization_levels=CODEC_LEVELS)
    torch.manual_seed(seed)
    Xcodec2Model(config).save_pretrained(folder)
    Xcodec2FeatureExtractor(hop_length=config.hop_length).save_pretrained(folder)
    return folder
