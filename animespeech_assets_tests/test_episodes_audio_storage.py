import numpy as np
import pytest

from animespeech_assets.core.audio import MediaError, cut, decode_audio
from animespeech_assets.core.naming import EpisodeError, episode_key
from animespeech_assets.core.storage import atomic_path, write_parquet
from animespeech_assets.ingest.episodes import discover, scan

from .conftest import write_tone_episode


@pytest.mark.parametrize(
    "stem, key",
    [
        ("Show S01E02 [1080p]", "Show_S01E02_1080p"),
        ("../../etc/passwd", "etc_passwd"),
        ("ep..01", "ep_01"),
        (".hidden", "hidden"),
        ("ぼっち・ざ・ろっく！ 第1話", "ぼっち_ざ_ろっく_第1話"),
        ("ＡＢＣ　０１", "ABC_01"),
    ],
)
def test_episode_keys_are_safe_single_path_components(stem, key):
    assert episode_key(stem) == key
    assert "/" not in key and ".." not in key and not key.startswith(".")


def test_discover_matches_subtitles_by_stem_and_language_tag(tmp_path):
    for name in ["ep01.mkv", "ep01.srt", "ep02.mp4", "ep02.ja.ass", "ep03.webm", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    eps = discover(tmp_path)
    assert sorted(eps) == ["ep01", "ep02", "ep03"]
    assert eps["ep01"].subtitles.name == "ep01.srt"
    assert eps["ep02"].subtitles.name == "ep02.ja.ass"
    assert eps["ep03"].subtitles is None


def test_two_files_with_one_key_are_an_error_naming_both(tmp_path):
    (tmp_path / "ep 01.mkv").write_bytes(b"x")
    (tmp_path / "ep_01.mp4").write_bytes(b"x")
    (tmp_path / "ep02.mkv").write_bytes(b"x")
    with pytest.raises(EpisodeError) as err:
        discover(tmp_path)
    assert "ep 01.mkv" in str(err.value) and "ep_01.mp4" in str(err.value)
    # the sensor's view: the clash is reported, the other episode still comes through
    found, problems = scan(tmp_path)
    assert list(found) == ["ep02"] and len(problems) == 1


def test_decode_mkv_aac_to_16k_mono_once(layout):
    path = write_tone_episode(layout, "tones", seconds=6.0)
    samples, source = decode_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / 16000 - 6.0) < 0.05
    assert (source.codec, source.sample_rate, source.channels) == ("aac", 48000, 2)
    rms = lambda a, b: float(np.sqrt(np.mean(cut(samples, 16000, a, b) ** 2)))  # noqa: E731
    # the bursts are where they were written (AAC priming is compensated), silence elsewhere;
    # mono is the channel mean, so a 0.5-amplitude sine keeps its 0.354 RMS
    assert rms(1.1, 1.9) == pytest.approx(0.354, abs=0.03)
    assert rms(3.1, 4.4) == pytest.approx(0.354, abs=0.03)
    assert rms(0.1, 0.9) < 0.01 and rms(2.2, 2.8) < 0.01 and rms(4.7, 5.8) < 0.01


def test_video_without_audio_is_a_clear_error(tmp_path):
    import av

    path = tmp_path / "silent.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=5)
        v.width, v.height, v.pix_fmt = 64, 36, "yuv420p"
        for _ in range(5):
            out.mux(v.encode(av.VideoFrame.from_ndarray(np.zeros((36, 64, 3), np.uint8), format="rgb24")))
        out.mux(v.encode(None))
    with pytest.raises(MediaError, match="no audio stream") as err:
        decode_audio(path)
    assert str(path) in str(err.value)


def test_garbage_and_truncated_files_are_clear_errors(layout, tmp_path):
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError) as err:
        decode_audio(junk)
    assert str(junk) in str(err.value)

    good = write_tone_episode(layout, "whole", seconds=20.0)
    cut_file = tmp_path / "cut.mkv"
    cut_file.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(MediaError, match="truncated") as err:
        decode_audio(cut_file)
    assert str(cut_file) in str(err.value)


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    import pyarrow as pa

    target = tmp_path / "out" / "t.parquet"
    write_parquet(pa.table({"a": [1, 2]}), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["t.parquet"]  # no temp file left

