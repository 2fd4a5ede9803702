"""Chat templates for bases that ship none."""

from __future__ import annotations

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


def ensure_chat_template(tokenizer) -> str:
    """Give ``tokenizer`` a chat template if it has none. Returns which one it uses: ``model`` (its
    own), or ``gemma`` / ``plain`` (one of ours, added now or saved earlier with an adapter's tokenizer)."""
    ours = {GEMMA_TEMPLATE: "gemma", PLAIN_TEMPLATE: "plain"}
    if tokenizer.chat_template:
        return ours.get(tokenizer.chat_template, "model")
    gemma = "<start_of_turn>" in tokenizer.get_vocab()
    tokenizer.chat_template = GEMMA_TEMPLATE if gemma else PLAIN_TEMPLATE
    return "gemma" if gemma else "plain"


