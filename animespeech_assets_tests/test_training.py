"""Character adapters and TTS samples, end to end on the small generated episodes, with the real
embedded models (Gemma 3 270M from its GGUF package, Kokoro, Whisper base, Resemblyzer)."""

import json
import re

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from animespeech_assets.backends.llm import GEMMA_TEMPLATE
from animespeech_assets.cli import main
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.definitions import defs
from animespeech_assets.training.adapters import hold_out, prompt_completion
from animespeech_assets.training.speech_samples import split_clips

from .tiny_llasa import CODEC_LEVELS, save_tiny_xcodec2, write_llasa_gguf

pytestmark = pytest.mark.models  # every test here loads a real model


def test_prompt_completion_puts_the_loss_on_the_last_assistant_turn():
    conv = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    assert prompt_completion(conv) == {"prompt": conv[:2], "completion": conv[2:]}
    train, val = hold_out([[{"n": i}] for i in range(20)], [], seed=0)
    assert len(val) == 2 and len(train) == 18 and not {id(x) for x in train} & {id(x) for x in val}


def test_gemma_template_renders_system_user_and_ends_replies_with_eos():
    from jinja2 import Template

    text = Template(GEMMA_TEMPLATE).render(
        bos_token="<bos>", eos_token="<eos>", add_generation_prompt=True,
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}, {"role": "user", "content": "U2"}],
    )
    assert text == ("<bos><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<eos>\n"
                    "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n")


def test_tts_clips_split_into_voice_references_and_held_out_lines(tmp_path):
    clips = [{"id": f"ep_{i}"} for i in range(7)]
    references, held_out = split_clips(clips, reference_clips=5, samples=4, source=tmp_path / "clips.parquet")
    assert [c["id"] for c in references] == [f"ep_{i}" for i in range(5)]
    assert [c["id"] for c in held_out] == ["ep_5", "ep_6"]
    references, held_out = split_clips(clips[:3], reference_clips=5, samples=4, source=tmp_path / "clips.parquet")
    assert len(references) == 2 and [c["id"] for c in held_out] == ["ep_2"]  # always one line left to speak
    with pytest.raises(ValueError, match="clips.parquet: 1 clip"):
        split_clips(clips[:1], reference_clips=5, samples=4, source=tmp_path / "clips.parquet")


@pytest.fixture
def with_datasets(two_episodes):
    layout = two_episodes
    assert main(["materialize", "--episode", "ep1"]) == 0
    assert main(["materialize", "--episode", "ep2"]) == 0
    return layout


def test_adapter_trains_lowers_validation_loss_and_tts_samples_are_intelligible(with_datasets):
    layout = with_datasets
    job = defs.resolve_job_def("character_job")
    config = {"ops": {"qlora_adapter": {"config": {"max_steps": 12, "batch_size": 4, "chat_samples": 2, "rank": 8}}}}
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key="Sakura", run_config=config)
    assert result.success
    # progress in the run log: the training steps (with the loss) and the TTS samples, each to the end
    messages = [e.user_message for e in dg.DagsterInstance.get().all_logs(result.run_id)]
    assert any(re.match(r"training steps \(loss \d+\.\d{3}\): 12/12 steps \(100%\) in ", m) for m in messages), messages[-8:]
    spoken = [m for m in messages if m.startswith("TTS samples: ")]
    assert spoken and re.match(r"TTS samples: (\d+)/\1 samples \(100%\)", spoken[-1]), spoken
    folder = layout.exports / "adapters" / "Sakura"
    adapter = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and sorted(adapter["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert (folder / "adapter" / "adapter_model.safetensors").stat().st_size > 0
    assert (folder / "adapter" / "chat_template.jinja").exists() or "chat_template" in (folder / "adapter" / "tokenizer_config.json").read_text()
    log = json.loads((folder / "training_log.json").read_text())
    report = log["report"]
    assert report["mode"] == "lora-fp32" and report["steps"] == 12
    assert report["validation_loss_after"] < report["validation_loss_before"]
    assert len(report["chat_samples"]) == 2 and all(s["reply"] for s in report["chat_samples"])
    assert any(s["ended"] for s in report["chat_samples"])  # replies end with EOS, which the base can emit
    record = Ledger(layout.lineage).latest("qlora_adapter", "Sakura")
    assert record["parameters"]["max_steps"] == 12 and record["parameters"]["rank"] == 8  # every key recorded
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey("qlora_adapter"))
    assert event.asset_materialization.metadata["chat_samples"].value == report["chat_samples"]

    folder = layout.exports / "tts_samples" / "Sakura"
    samples = pq.read_table(folder / "samples.parquet").to_pylist()
    assert samples
    for s in samples:
        info = sf.info(folder / s["file"])
        assert info.samplerate == 24000 and info.duration == pytest.approx(s["duration"], abs=1e-3) and info.duration > 0.5
    cer = sum(s["edits"] for s in samples) / sum(s["chars"] for s in samples)
    assert cer < 0.3
    tts = Ledger(layout.lineage).latest("tts_samples", "Sakura")
    assert tts["parameters"]["voice"] == "jf_alpha"  # Sakura speaks with jf_alpha in the demo script

    # the same asset with the cloning backend, on the tiny random Llasa: the wiring and the files
    # (16 kHz speech decoded from the generated codes), not the quality
    gguf = layout.root / "tiny-llasa.gguf"
    write_llasa_gguf(gguf, speech_tokens=int(np.prod(CODEC_LEVELS)))
    codec = save_tiny_xcodec2(layout.root / "tiny-xcodec2")
    tts_config = {"backend": "llasa", "model": str(gguf), "codec": str(codec), "device": "cpu", "seed": 1}
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key="Sakura", asset_selection=[dg.AssetKey("tts_samples")],
        run_config={"resources": {"tts": {"config": tts_config}}},
    )
    assert result.success
    cloned = pq.read_table(folder / "samples.parquet").to_pylist()
    assert [s["id"] for s in cloned] == [s["id"] for s in samples]
    for s in cloned:
        info = sf.info(folder / s["file"])
        assert info.samplerate == 16000 and info.frames % 320 == 0 and info.frames > 0
    record = Ledger(layout.lineage).latest("tts_samples", "Sakura")
    assert record["parameters"]["backend"] == "llasa" and record["parameters"]["seed"] == 1
    assert record["models"]["tts"] == f"llasa:tiny-llasa.gguf+{codec}"
    assert record["parameters"]["voice_prompt"] in {c["id"] for c in pq.read_table(layout.exports / "audio" / "Sakura" / "clips.parquet").to_pylist()}
