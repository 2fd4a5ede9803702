"""Leave-one-out evaluation of the per-class KNN on a reference set, and the k and thresholds it suggests."""

from __future__ import annotations

import numpy as np

from animespeech_assets.speakers.knn import Reference, class_scores

FALLBACK = {"k": 5, "certain_threshold": 0.2, "uncertain_threshold": 0.35}
PRECISION_CERTAIN, PRECISION_UNCERTAIN = 0.95, 0.80
K_GRID = (1, 3, 5, 7, 10, 15)
THRESHOLD_GRID = tuple(round(x, 3) for x in np.arange(0.05, 1.001, 0.025))


def leave_one_out(ref: Reference, ks=K_GRID, thresholds=THRESHOLD_GRID) -> dict:
    """Accuracy, precision and coverage of the per-class KNN on the reference set itself, each
    sample predicted from all the others, for a grid of k and thresholds; with suggested values.

    Replaces the older tool's KMeans "choose k", which ignored the labels.
    """
    m = len(ref.characters)
    counts = ref.counts()
    report: dict = {"samples": m, "characters": counts, "grid": [], "by_k": [], "suggested": dict(FALLBACK), "fallback": True}
    if len(counts) < 2 or min(counts.values()) < 2:
        report["reason"] = "needs at least two characters with two or more samples each"
        return report
    dist = np.clip(1.0 - ref.vectors.astype(np.float64) @ ref.vectors.T.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(dist, np.inf)
    truth = ref.characters
    best_k, best_acc, best_pred = None, -1.0, None
    for k in ks:
        scores = class_scores(dist, truth, ref.classes, k)
        idx = np.argmin(scores, axis=1)
        pred = np.asarray(ref.classes, dtype=object)[idx]
        d = scores[np.arange(m), idx]
        correct = pred == truth
        acc = float(correct.mean())
        report["by_k"].append({"k": k, "accuracy": acc, "macro_f1": macro_f1(truth.tolist(), pred.tolist())})
        for t in thresholds:
            covered = d <= t
            report["grid"].append(
                {
                    "k": k,
                    "threshold": t,
                    "coverage": float(covered.mean()),
                    "precision": float(correct[covered].mean()) if covered.any() else None,
                    "accuracy": float((correct & covered).mean()),
                }
            )
        # ties go to the k closest to 5: k=1 is brittle, a very large k blurs small classes
        if acc > best_acc + 1e-9 or (abs(acc - best_acc) <= 1e-9 and abs(k - 5) < abs(best_k - 5)):
            best_k, best_acc, best_pred = k, acc, (pred, d, correct)
    pred, d, correct = best_pred
    # impostor distances: each sample's score for the nearest *other* character. A line of a
    # character missing from the reference set looks like that, so thresholds stay below them.
    scores = class_scores(dist, truth, ref.classes, best_k)
    own = np.array([ref.classes.index(c) for c in truth])
    scores[np.arange(m), own] = np.inf
    impostor = scores.min(axis=1)
    report["impostor_distance"] = {"p5": float(np.percentile(impostor, 5)), "median": float(np.median(impostor))}
    certain = _threshold_for(d, correct, PRECISION_CERTAIN, [t for t in thresholds if t <= np.percentile(impostor, 5)] or [min(thresholds)])
    uncertain = _threshold_for(d, correct, PRECISION_UNCERTAIN, [t for t in thresholds if t <= np.median(impostor)] or [min(thresholds)])
    report["suggested"] = {"k": best_k, "certain_threshold": certain, "uncertain_threshold": max(certain, uncertain)}
    report["fallback"] = False
    report["accuracy"] = best_acc
    return report


def _threshold_for(d: np.ndarray, correct: np.ndarray, precision: float, thresholds) -> float:
    """The largest of ``thresholds`` whose covered predictions still reach ``precision``."""
    ok = [t for t in thresholds if (d <= t).any() and correct[d <= t].mean() >= precision]
    return float(max(ok)) if ok else float(min(thresholds))


def macro_f1(truth: list, pred: list) -> float:
    labels = sorted(set(truth))
    f1s = []
    for c in labels:
        tp = sum(1 for t, p in zip(truth, pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, pred) if t == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def format_evaluation(report: dict, top: int = 12) -> str:
    lines = [f"reference samples: {report['samples']}  per character: {report['characters']}"]
    if report.get("reason"):
        lines.append(f"not evaluated: {report['reason']}; defaults {report['suggested']}")
        return "\n".join(lines)
    lines.append("k    leave-one-out accuracy  macro-F1")
    for row in report["by_k"]:
        lines.append(f"{row['k']:<4} {row['accuracy']:.3f}                   {row['macro_f1']:.3f}")
    k = report["suggested"]["k"]
    lines.append(f"thresholds for k={k}: threshold  coverage  precision")
    for row in (r for r in report["grid"] if r["k"] == k):
        if row["precision"] is not None:
            lines.append(f"  {row['threshold']:.3f}      {row['coverage']:.3f}     {row['precision']:.3f}")
    s = report["suggested"]
    imp = report["impostor_distance"]
    lines.append(
        f"suggested: k={s['k']} certain_threshold={s['certain_threshold']} (precision >= {PRECISION_CERTAIN}, "
        f"below the 5th percentile {imp['p5']:.3f} of distances to other characters) "
        f"uncertain_threshold={s['uncertain_threshold']} (precision >= {PRECISION_UNCERTAIN}, below their median {imp['median']:.3f})"
    )
    return "\n".join(lines)


