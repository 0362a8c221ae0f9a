"""Does one quantity go with another across runs? Spearman's rank correlation with a permutation p-value.

With a handful of runs the usual p-value of ``scipy.stats.spearmanr`` (a t approximation) is not to be trusted, and a
rank test has a floor: with ``n`` runs no ordering is rarer than ``2 / n!`` (two-sided), so three runs can never
reach p < 0.33. ``permutation_spearman`` therefore counts: every ordering of ``y`` against ``x`` when there are at
most ``exact_up_to`` runs (8! = 40,320 orderings), else ``draws`` random ones, and reports how often a correlation at
least as far from zero as the observed one turns up. It also reports that floor, so a reader can see what the
number of runs allowed.
"""
from __future__ import annotations

import itertools
import math

import numpy as np


def _rho(rx: np.ndarray, ry: np.ndarray) -> float:
    a, b = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else math.nan


def permutation_spearman(x, y, exact_up_to: int = 8, draws: int = 20000, seed: int = 0) -> dict:
    """``rho`` (Spearman), ``p`` (two-sided permutation p-value), ``n`` (runs), ``exact`` (every ordering counted)
    and ``p_floor`` (the smallest p-value ``n`` runs can give). ``x`` and ``y`` are paired values, one per run."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be two lists of the same length, got shapes {x.shape} and {y.shape}")
    n = len(x)
    out = {"n": n, "rho": math.nan, "p": math.nan, "exact": False, "p_floor": math.nan}
    if n < 3:
        return out
    rx, ry = rankdata(x), rankdata(y)
    observed = _rho(rx, ry)
    out["rho"] = observed
    if not np.isfinite(observed):
        return out
    exact = n <= exact_up_to
    if exact:
        rhos = np.array([_rho(rx, ry[list(p)]) for p in itertools.permutations(range(n))])
        p = float(np.mean(np.abs(rhos) >= abs(observed) - 1e-12))
    else:
        rng = np.random.default_rng(seed)
        rhos = np.array([_rho(rx, rng.permutation(ry)) for _ in range(draws)])
        p = float((1 + np.sum(np.abs(rhos) >= abs(observed) - 1e-12)) / (draws + 1))
    out.update(p=p, exact=exact, p_floor=min(1.0, 2 / math.factorial(n)) if n <= 20 else 0.0)
    return out


def fmt_p(result: dict) -> str:
    """``p = 0.012``, or ``p < 0.001`` where the count cannot resolve smaller values (never a bare 0.000)."""
    p = result["p"]
    if not math.isfinite(p):
        return "p undefined"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def stratified_spearman(groups, draws: int = 20000, seed: int = 0) -> dict:
    """One test over several groups of runs (a dataset and a method each): the mean of the groups' Spearman
    correlations, ``rho``, against the same mean with ``y`` permuted *within* each group, so that no group's level
    (a task's typical loss and score) can make a correlation of its own. ``groups`` is a list of ``(x, y)`` pairs;
    returns ``rho``, ``p`` (two-sided, ``draws`` random permutations), ``n`` (runs) and ``groups``."""
    from scipy.stats import rankdata

    ranked = [(rankdata(np.asarray(x, float)), rankdata(np.asarray(y, float))) for x, y in groups if len(x) >= 3]
    if not ranked:
        return {"rho": math.nan, "p": math.nan, "n": 0, "groups": 0}
    observed = float(np.mean([_rho(rx, ry) for rx, ry in ranked]))
    rng = np.random.default_rng(seed)
    null = np.array([np.mean([_rho(rx, rng.permutation(ry)) for rx, ry in ranked]) for _ in range(draws)])
    p = float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (draws + 1))
    return {"rho": observed, "p": p, "n": sum(len(rx) for rx, _ in ranked), "groups": len(ranked)}
