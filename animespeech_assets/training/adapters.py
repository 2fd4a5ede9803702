"""Per-character LoRA / QLoRA adapters trained with TRL on a persona's dialogue dataset.

On CUDA the base is loaded in 4-bit NF4 with double quantisation and bf16 (or fp16) compute and
trained with a paged 8-bit optimiser (QLoRA); on CPU it is plain LoRA in fp32, so it still runs
here. Samples are conversational prompt-completion pairs (the last assistant turn is the
completion), so the loss is on the assistant's reply only.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LoraSettings:
    base_model: str = ""  # empty: the embedded Gemma 3 270M
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_steps: int = 30  # > 0 wins over epochs
    epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 256
    seed: int = 0
    chat_samples: int = 3
    max_new_tokens: int = 48


@dataclass
class TrainReport:
    mode: str  # "qlora-4bit" | "lora-fp32" | "lora-bf16"
    device: str
    base_model: str
    chat_template: str
    train_samples: int
    validation_samples: int
    validation_loss_before: float
    validation_loss_after: float
    train_seconds: float
    train_tokens: int
    tokens_per_second: float
    peak_gpu_memory_gib: float | None
    steps: int
    chat_samples: list[dict] = field(default_factory=list)
    log_history: list[dict] = field(default_factory=list)


def prompt_completion(messages: list[dict]) -> dict:
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def hold_out(train: list[list[dict]], validation: list[list[dict]], seed: int) -> tuple[list, list]:
    """Validation conversations: the dataset's own, or a seeded 10 % (at least 2) of train."""
    if validation:
        return train, validation
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n = max(2, math.ceil(0.1 * len(train))) if len(train) >= 4 else 0
    held = set(order[:n].tolist())
    return [t for i, t in enumerate(train) if i not in held], [t for i, t in enumerate(train) if i in held]


def train_adapter(
    train_conversations: list[list[dict]],
    validation_conversations: list[list[dict]],
    settings: LoraSettings,
    out_dir: Path,
    device: str,
    cache: Path,
    log: Callable[[str], None] | None = None,
) -> TrainReport:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from animespeech_assets.backends.llm import ensure_chat_template, resolve_base

    set_seed(settings.seed)
    train_conv, val_conv = hold_out(train_conversations, validation_conversations, settings.seed)
    if not train_conv or not val_conv:
        raise ValueError(f"need at least 4 dialogue samples to train and validate, got {len(train_conversations)}")
    base = resolve_base(settings.base_model, cache)
    tokenizer = AutoTokenizer.from_pretrained(base)
    template = ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    cuda = device.startswith("cuda")
    model_kwargs: dict = {}
    if cuda:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        )
        model_kwargs["dtype"] = compute
        model_kwargs["device_map"] = {"": device}
        mode = "qlora-4bit"
    else:
        model_kwargs["dtype"] = torch.float32
        mode = "lora-fp32"
    model = AutoModelForCausalLM.from_pretrained(base, **model_kwargs)
    if cuda:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    lora = LoraConfig(task_type="CAUSAL_LM", r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=list(settings.target_modules))
    train_ds = Dataset.from_list([prompt_completion(m) for m in train_conv])
    val_ds = Dataset.from_list([prompt_completion(m) for m in val_conv])
    args = SFTConfig(
        output_dir=str(out_dir / "checkpoints"),
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        learning_rate=settings.learning_rate,
        max_length=settings.max_length,
        completion_only_loss=True,
        logging_steps=max(1, (settings.max_steps or 50) // 20),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        seed=settings.seed,
        optim="paged_adamw_8bit" if cuda else "adamw_torch",
        bf16=cuda and torch.cuda.is_bf16_supported(),
        fp16=cuda and not torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        dataloader_num_workers=0,
        activation_checkpointing=cuda,  # transformers 5's name for gradient checkpointing
        disable_tqdm=True,  # progress is ours: one line on a terminal, and the run log
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds, processing_class=tokenizer,
                         peft_config=lora, callbacks=[progress_callback(log)])
    # with tqdm off the Trainer prints every log dict on stdout; the progress line already shows the loss
    # (and the whole history is in training_log.json)
    trainer.remove_callback(PrinterCallback)
    before = trainer.evaluate()["eval_loss"]
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    after = trainer.evaluate()["eval_loss"]
    tokens = int(trainer.state.num_input_tokens_seen or 0) or _count_tokens(trainer, settings)
    adapter_dir = out_dir / "adapter"
    trainer.model.save_pretrained(adapter_dir, safe_serialization=True)
    tokenizer.save_pretrained(adapter_dir)
    import shutil

    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    samples = chat_samples(trainer.model, tokenizer, val_conv[: settings.chat_samples], settings.max_new_tokens, device)
    return TrainReport(
        mode=mode, device=device, base_model=base, chat_template=template, train_samples=len(train_conv),
        validation_samples=len(val_conv), validation_loss_before=float(before), validation_loss_after=float(after),
        train_seconds=seconds, train_tokens=tokens, tokens_per_second=tokens / seconds if seconds else 0.0,
        peak_gpu_memory_gib=peak, steps=int(result.global_step), chat_samples=samples,
        log_history=[dict(h) for h in trainer.state.log_history],
    )


def progress_callback(log: Callable[[str], None] | None):
    """A TrainerCallback reporting training steps (with the latest loss) as :class:`Progress`."""
    from transformers import TrainerCallback

    from animespeech_assets.core.progress import Progress

    class ReportProgress(TrainerCallback):
        progress: Progress | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress = Progress("training steps", state.max_steps, "steps", log)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.progress and logs and "loss" in logs:
                self.progress.what = f"training steps (loss {logs['loss']:.3f})"

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress:
                self.progress.advance(1)

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress:
                self.progress.finish()
                self.progress = None

    return ReportProgress()


def _count_tokens(trainer, settings: LoraSettings) -> int:
    """Tokens in the training batches seen (when the trainer did not count them)."""
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    per_epoch = sum(min(n, settings.max_length) for n in lengths)
    steps_per_epoch = max(1, math.ceil(len(lengths) / (settings.batch_size * settings.gradient_accumulation)))
    return int(per_epoch * trainer.state.global_step / steps_per_epoch)


def chat_samples(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int, device: str) -> list[dict]:
    """Greedy replies of the adapted model to held-out user turns, and whether each ended its turn."""
    import torch

    model.eval()
    stop_ids = [tokenizer.eos_token_id] + [i for i in [tokenizer.convert_tokens_to_ids("<end_of_turn>")] if i != tokenizer.unk_token_id]
    out = []
    for conv in conversations:
        prompt = tokenizer.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            gen = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=stop_ids)
        new = gen[0][ids["input_ids"].shape[1]:]
        reply = tokenizer.decode(new, skip_special_tokens=True).strip()
        ended = bool(len(new)) and int(new[-1]) in stop_ids  # the model ended its turn (not cut at max_new_tokens)
        out.append({"user": conv[-2]["content"], "reference": conv[-1]["content"], "reply": reply, "ended": ended})
    return out


def loss_curve_png(report: TrainReport) -> bytes:
    from animespeech_assets.core.plots import figure, png_bytes

    steps = [h["step"] for h in report.log_history if "loss" in h]
    losses = [h["loss"] for h in report.log_history if "loss" in h]
    fig, ax = figure(figsize=(6, 3))
    ax.plot(steps, losses, marker="o", label="train loss")
    ax.axhline(report.validation_loss_before, color="grey", linestyle="--", label=f"validation before {report.validation_loss_before:.3f}")
    ax.axhline(report.validation_loss_after, color="green", linestyle="--", label=f"validation after {report.validation_loss_after:.3f}")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    return png_bytes(fig)


def write_report(report: TrainReport, settings: LoraSettings, out_dir: Path) -> None:
    (out_dir / "training_log.json").write_text(json.dumps({"settings": asdict(settings), "report": asdict(report)}, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    (out_dir / "chat_samples.json").write_text(json.dumps(report.chat_samples, indent=1, ensure_ascii=False), encoding="utf-8")
    (out_dir / "loss_curve.png").write_bytes(loss_curve_png(report))


def train_character(dataset: Path, settings: LoraSettings, out_dir: Path, device: str, cache: Path,
                    log: Callable[[str], None] | None = None) -> TrainReport:
    """Train on a persona's dialogue dataset folder (TRL JSONL) into ``out_dir`` (written aside and
    swapped in whole), with the training log, loss curve and chat samples beside the adapter."""
    from animespeech_assets.core.storage import atomic_dir
    from animespeech_assets.datasets.formats.trl import read_conversations

    train, validation = read_conversations(dataset, "train"), read_conversations(dataset, "validation")
    with atomic_dir(out_dir) as tmp:
        report = train_adapter(train, validation, settings, tmp, device, cache, log)
        write_report(report, settings, tmp)
    return report


def report_metadata(report: TrainReport) -> dict:
    """The figures people compare adapters by."""
    return {
        "mode": report.mode,
        "validation_loss_before": report.validation_loss_before,
        "validation_loss_after": report.validation_loss_after,
        "train_samples": report.train_samples,
        "validation_samples": report.validation_samples,
        "steps": report.steps,
        "tokens_per_second": round(report.tokens_per_second, 1),
        "peak_gpu_memory_gib": report.peak_gpu_memory_gib if report.peak_gpu_memory_gib is not None else "n/a (CPU)",
        "chat_template": report.chat_template,
    }
