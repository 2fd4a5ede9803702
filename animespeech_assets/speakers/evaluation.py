"""Leave-one-out evaluation of the per-class KNN on a reference set, and the k and thresholds it suggests.

``certain`` is calibrated: the rule (distance at most ``certain_threshold`` and margin to the runner-up
at least ``certain_margin``) is the one that covers the most labelled lines in leave-one-out while
their predictions stay right at ``PRECISION_CERTAIN``, and while at most ``OPEN_SET_SHARE`` of the
lines pass it when their own character is taken out of the reference set (what a line of a character
nobody labelled looks like).
"""

from __future__ import annotations

import math

import numpy as np

from animespeech_assets.speakers.knn import Reference, class_scores

FALLBACK = {"k": 5, "certain_threshold": 0.2, "uncertain_threshold": 0.35, "certain_margin": 0.0}
PRECISION_CERTAIN, PRECISION_UNCERTAIN = 0.99, 0.80
OPEN_SET_SHARE = 0.05
K_GRID = (1, 3, 5, 7, 10, 15)
THRESHOLD_GRID = tuple(round(x, 3) for x in np.arange(0.05, 1.001, 0.025))
MARGIN_GRID = tuple(round(x, 3) for x in np.arange(0.0, 0.301, 0.025))


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
            best_k, best_acc, best_pred = k, acc, (scores, d, correct)
    scores, d, correct = best_pred
    margin = _margin(scores)
    own = np.array([ref.classes.index(c) for c in truth])
    scores[np.arange(m), own] = np.inf  # each line with its own character taken out
    impostor, impostor_margin = scores.min(axis=1), _margin(scores)
    report["impostor_distance"] = {"p5": float(np.percentile(impostor, 5)), "median": float(np.median(impostor))}
    certain, certain_margin = _certain_rule(d, margin, correct, impostor, impostor_margin, thresholds, MARGIN_GRID)
    uncertain = _threshold_for(d, correct, PRECISION_UNCERTAIN, [t for t in thresholds if t <= np.median(impostor)] or [min(thresholds)])
    report["suggested"] = {"k": best_k, "certain_threshold": certain, "uncertain_threshold": max(certain, uncertain),
                           "certain_margin": certain_margin}
    covered = (d <= certain) & (margin >= certain_margin)
    n, right = int(covered.sum()), int(correct[covered].sum())
    report["expected"] = {"coverage": float(covered.mean()), "precision": right / n if n else None,
                          "precision_lower_95": wilson_lower(right, n), "open_set_certain":
                          float(((impostor <= certain) & (impostor_margin >= certain_margin)).mean())}
    report["warnings"] = _calibration_warnings(report["expected"], n, right)
    report["fallback"] = False
    report["accuracy"] = best_acc
    return report


def _margin(scores: np.ndarray) -> np.ndarray:
    """Runner-up's score minus the best per row (inf where there is no runner-up)."""
    two = np.sort(scores, axis=1)[:, :2]
    return two[:, 1] - two[:, 0] if scores.shape[1] > 1 else np.full(len(scores), np.inf)


def _certain_rule(d, margin, correct, impostor, impostor_margin, thresholds, margins) -> tuple[float, float]:
    """(distance threshold, margin) covering the most lines at ``PRECISION_CERTAIN`` with at most
    ``OPEN_SET_SHARE`` of the open-set lines passing; ties: fewer open-set lines passing, then the
    larger distance threshold with the smallest margin that reaches it. None reach it: next to nothing."""
    best, best_key = (float(min(thresholds)), float(max(margins))), None
    for t in thresholds:
        for mg in margins:
            covered = (d <= t) & (margin >= mg)
            if not covered.any() or correct[covered].mean() < PRECISION_CERTAIN:
                continue
            open_set = float(((impostor <= t) & (impostor_margin >= mg)).mean())
            if open_set > OPEN_SET_SHARE:
                continue
            key = (float(covered.mean()), -open_set, t, -mg)
            if best_key is None or key > best_key:
                best, best_key = (float(t), float(mg)), key
    return best


def wilson_lower(successes: int, n: int, z: float = 1.645) -> float | None:
    """One-sided 95 % lower bound of a proportion (Wilson score)."""
    if n == 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def _calibration_warnings(expected: dict, n: int, right: int) -> list[str]:
    if n == 0:
        return [f"no rule keeps leave-one-out precision >= {PRECISION_CERTAIN} on these labels: almost no line will be certain; "
                "label more lines (the review page's hardest first)"]
    if expected["precision_lower_95"] < PRECISION_CERTAIN:
        needed = math.ceil(math.log(0.05) / math.log(PRECISION_CERTAIN))  # all right, lower bound at the target
        return [f"labels too few to show certain precision >= {PRECISION_CERTAIN}: {right} of {n} leave-one-out predictions "
                f"within the certain rule are right (95 % lower bound {expected['precision_lower_95']:.2f}); "
                f"about {needed} such predictions are needed"]
    return []


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
    s, e = report["suggested"], report["expected"]
    imp = report["impostor_distance"]
    lines.append(
        f"suggested: k={s['k']}; certain: distance <= {s['certain_threshold']} and margin to the runner-up >= {s['certain_margin']} "
        f"(leave-one-out: covers {e['coverage']:.0%} at precision {_rounded(e['precision'])}, "
        f"95 % lower bound {_rounded(e['precision_lower_95'])}; "
        f"{e['open_set_certain']:.0%} of lines pass with their character taken out); "
        f"uncertain_threshold={s['uncertain_threshold']} (precision >= {PRECISION_UNCERTAIN}, below the median {imp['median']:.3f} "
        "of distances to other characters)"
    )
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
