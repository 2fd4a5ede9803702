import numpy as np
import pyarrow as pa
import pytest

from animespeech_assets.speakers import embeddings, evaluation, knn, predictions, references, statuses
from animespeech_assets.speakers.embeddings import embed_lines, vectors_of


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def make_ref(vectors, characters):
    n = len(characters)
    return knn.Reference(
        unit(vectors).astype(np.float32), np.asarray(characters, dtype=object),
        np.asarray(["ep1"] * n, dtype=object), np.arange(1, n + 1),
    )


def test_small_class_can_win_and_distance_belongs_to_the_predicted_character():
    rng = np.random.default_rng(0)
    centre_a, centre_b = unit([1, 0, 0, 0]), unit([0.6, 0.8, 0, 0])
    big = unit(centre_a + 0.25 * rng.normal(size=(20, 4)))
    small = unit(centre_b + 0.02 * rng.normal(size=(2, 4)))
    ref = make_ref(np.vstack([big, small]), ["A"] * 20 + ["B"] * 2)
    query = unit(centre_b + 0.01 * rng.normal(size=(1, 4)))
    pred = knn.predict(query, ref, k=5)
    # a global 5-vote would give A (only 2 B samples exist); per-class scoring gives B
    dist = 1 - query @ ref.vectors.T
    assert pred.character == ["B"]
    assert np.isclose(pred.distance[0], dist[0, 20:].mean())  # mean over B's own 2 samples
    assert pred.runner_up == ["A"]
    assert np.isclose(pred.margin[0], np.sort(dist[0, :20])[:5].mean() - dist[0, 20:].mean())
    assert [n["character"] for n in pred.neighbours[0][:2]] == ["B", "B"]
    assert [n["distance"] for n in pred.neighbours[0]] == sorted(n["distance"] for n in pred.neighbours[0])


def test_exclusion_keeps_a_line_out_of_its_own_neighbours():
    ref = make_ref([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], ["A", "A", "B", "B"])
    pred = knn.predict(ref.vectors[:1], ref, k=1, exclude=[("ep1", 1)])
    assert pred.character == ["A"] and pred.distance[0] > 1e-3
    assert all(n["line_id"] != 1 for n in pred.neighbours[0])


def test_status_thresholds():
    t = knn.Thresholds(certain=0.2, uncertain=0.35, margin=0.05)
    assert knn.status_of(0.1, 0.1, t) == statuses.CERTAIN
    assert knn.status_of(0.1, None, t) == statuses.CERTAIN  # one character: no runner-up
    assert knn.status_of(0.1, 0.01, t) == statuses.UNCERTAIN  # close, but hardly ahead of the runner-up
    assert knn.status_of(0.3, 0.3, t) == statuses.UNCERTAIN
    assert knn.status_of(0.5, 0.3, t) == statuses.UNKNOWN
    assert knn.status_of(np.inf, None, t) == statuses.UNKNOWN and knn.status_of(None, None, t) == statuses.UNKNOWN


def test_leave_one_out_suggests_k_and_thresholds_from_labels():
    rng = np.random.default_rng(1)
    centres = unit(rng.normal(size=(3, 16)))
    vectors = np.vstack([unit(c + 0.15 * rng.normal(size=(12, 16))) for c in centres])
    # two mislabelled samples: leave-one-out accuracy must see them
    characters = ["A"] * 12 + ["B"] * 12 + ["C"] * 12
    characters[0], characters[12] = "B", "A"
    report = evaluation.leave_one_out(make_ref(vectors, characters))
    assert report["fallback"] is False and report["samples"] == 36
    by_k = {row["k"]: row["accuracy"] for row in report["by_k"]}
    assert max(by_k.values()) == report["accuracy"] and 0.85 < report["accuracy"] < 1.0
    grid = [r for r in report["grid"] if r["k"] == report["suggested"]["k"]]
    coverage = [r["coverage"] for r in grid]
    assert coverage == sorted(coverage) and coverage[-1] == 1.0
    s = report["suggested"]
    assert s["certain_threshold"] <= s["uncertain_threshold"] <= report["impostor_distance"]["median"]
    assert "suggested: k=" in evaluation.format_evaluation(report)


def test_certain_is_calibrated_by_leave_one_out_with_the_margin_and_says_when_labels_are_too_few():
    """The suggested certain rule, applied by the predictor itself to each label left out in turn,
    gives the coverage and precision the report expects; with each line's own character taken out
    of the reference set, at most OPEN_SET_SHARE of lines still pass as certain."""
    rng = np.random.default_rng(3)
    centres = unit(rng.normal(size=(4, 16)))
    vectors = np.vstack([unit(c + 0.25 * rng.normal(size=(10, 16))) for c in centres])
    characters = [c for c in "ABCD" for _ in range(10)]
    characters[0] = "B"  # one mislabel
    ref = make_ref(vectors, characters)
    report = evaluation.leave_one_out(ref)
    k, thresholds = predictions.settings(report["suggested"], None, None, None)
    assert thresholds.margin == report["suggested"]["certain_margin"]
    certain, right, open_set = 0, 0, 0
    for i, truth in enumerate(characters):
        pred = knn.predict(ref.vectors[i : i + 1], ref, k, exclude=[("ep1", i + 1)])
        if knn.status_of(pred.distance[0], pred.margin[0], thresholds) == statuses.CERTAIN:
            certain += 1
            right += pred.character[0] == truth
        others = np.asarray(characters) != truth
        without = make_ref(vectors[others], [c for c in characters if c != truth])
        pred = knn.predict(ref.vectors[i : i + 1], without, k)
        open_set += knn.status_of(pred.distance[0], pred.margin[0], thresholds) == statuses.CERTAIN
    e = report["expected"]
    assert certain / len(characters) == pytest.approx(e["coverage"]) and certain >= 20
    assert right / certain == pytest.approx(e["precision"]) and right / certain >= evaluation.PRECISION_CERTAIN
    assert open_set / len(characters) == pytest.approx(e["open_set_certain"]) and e["open_set_certain"] <= evaluation.OPEN_SET_SHARE
    # 40 labels cannot show 99 % precision: the report says so, with its lower bound
    assert e["precision_lower_95"] < evaluation.PRECISION_CERTAIN
    assert report["warnings"] and "labels too few" in report["warnings"][0]
    assert evaluation.wilson_lower(299, 299) >= 0.99 > evaluation.wilson_lower(100, 100)


def test_leave_one_out_needs_two_characters():
    report = evaluation.leave_one_out(make_ref([[1, 0], [0.9, 0.1]], ["A", "A"]))
    assert report["fallback"] is True and report["suggested"] == evaluation.FALLBACK


class FakeEncoder:
    """Records what it is asked to embed; used only to test line cutting and marking."""

    model_id, dim, min_seconds = "fake", 3, 0.3

    def __init__(self):
        self.seen = []

    def embed(self, clips):
        self.seen = [len(c) for c in clips]
        return unit(np.stack([[len(c), 1.0, 0.0] for c in clips])).astype(np.float32)


def test_embed_lines_marks_short_and_silent_lines_and_keeps_every_row():
    sr = 16000
    audio = np.zeros(10 * sr, np.float32)
    audio[1 * sr : 3 * sr] = 0.1
    audio[5 * sr : 5 * sr + 3000] = 0.1
    lines = pa.table({"line_id": pa.array([1, 2, 3], pa.int32()), "start": [1.0, 5.0, 7.0], "end": [3.0, 5.1, 9.0]})
    enc = FakeEncoder()
    table = embed_lines(audio, sr, lines, enc, voice=None)  # whole cues: no voice activity on a DC signal
    assert table.column("embedding_status").to_pylist() == ["ok", "too_short", "silent"]
    assert table.column("speech_start").null_count == 3
    assert enc.seen == [2 * sr]  # only the usable clip went to the encoder, cut exactly
    valid, matrix = vectors_of(table)
    assert valid.tolist() == [True, False, False] and matrix.shape == (1, 3)
    assert table.column("vector").null_count == 2


def test_reference_refuses_mixed_encoders():
    a = embeddings.with_encoder(pa.table({"line_id": pa.array([1], pa.int32())}), "resemblyzer:x")
    b = embeddings.with_encoder(pa.table({"line_id": pa.array([1], pa.int32())}), "speechbrain:y")
    with pytest.raises(references.ReferenceSetError) as err:
        references.build_reference([references.LabelledEpisode("ep1", a, []), references.LabelledEpisode("ep2", b, [])])
    assert "ep1: resemblyzer:x" in str(err.value) and "ep2: speechbrain:y" in str(err.value)


def test_two_character_names_with_one_key_are_an_error_naming_both():
    from animespeech_assets.speakers.references import ReferenceSetError, character_keys

    assert character_keys(["Sakura", "Mei", "Mei"]) == {"Mei": "Mei", "Sakura": "Sakura"}
    with pytest.raises(ReferenceSetError, match="'A/B' and 'A_B' both become the key 'A_B'"):
        character_keys(["A/B", "A_B", "Mei"])
