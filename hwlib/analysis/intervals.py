"""The book's one rule for a paired comparison, and what it implies for the number of seeds.

Two arms trained on the same seeds (the same seed gives both the same data order and the same new head) are compared
by their per-seed differences ``d_1 .. d_n``. The rule, used by every chapter and every verdict:

    mean difference  +-  t_{0.975, n-1} * sd(d) / sqrt(n)        (Student t, 95 %, over the n paired seeds)

It counts the seed-to-seed noise (which examples a run happens to get right) and nothing else: the test set is held
fixed. Where the runs keep their per-example predictions, ``paired_bootstrap`` gives a second view, shown beside the
first and labelled as such, that also resamples the test examples, so it counts the test set's own sampling too.

``half_width`` and ``seeds_for`` turn a measured spread into a plan: the interval's half-width at ``n`` seeds, and the
seeds a given half-width needs.
"""
from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95


def _t(n: int, level: float = LEVEL) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, n - 1))


def pairable_seeds(a: pd.DataFrame, b: pd.DataFrame) -> list:
    """The seeds both arms ran in the same arithmetic (the records' resolved precision) on the same kind of device
    (a CPU, or one GPU model; the thread count aside): a pair never mixes fp32 with bf16, or a CPU with a GPU."""
    x, y = a.set_index("seed"), b.set_index("seed")

    def kind(device):
        return str(device).split(" (")[0]

    return sorted(s for s in set(x.index) & set(y.index)
                  if x.loc[s].get("precision") == y.loc[s].get("precision")
                  and kind(x.loc[s].get("device")) == kind(y.loc[s].get("device")))


def paired_t(diffs, level: float = LEVEL) -> dict:
    """The rule over per-seed differences: ``pairs``, ``mean``, ``std`` (of the differences), ``low`` and ``high``
    of the Student-t interval for the mean (``nan`` where one pair gives no spread)."""
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    return from_summary(float(d.mean()) if len(d) else math.nan,
                        float(d.std(ddof=1)) if len(d) > 1 else math.nan, len(d), level)


def from_summary(mean: float, std: float, pairs: int, level: float = LEVEL) -> dict:
    """The same rule from the differences' mean, standard deviation and number of pairs."""
    out = {"pairs": int(pairs), "mean": mean, "std": std, "low": math.nan, "high": math.nan}
    if pairs > 1 and np.isfinite(std):
        half = _t(pairs, level) * std / math.sqrt(pairs)
        out["low"], out["high"] = mean - half, mean + half
    return out


def fmt(mean: float, low: float = math.nan, high: float = math.nan, digits: int = 1) -> str:
    """``+2.2 (-5.3 to +9.6)``: a paired difference and its interval, printed alike everywhere (the mean alone
    where there is no interval)."""
    if not np.isfinite(mean):
        return "—"
    text = f"{mean:+.{digits}f}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" ({low:+.{digits}f} to {high:+.{digits}f})"
    return text


def fmt_row(row: dict, digits: int = 1) -> str:
    """``fmt`` of a ``paired_t`` result, with its number of seeds."""
    return f"{fmt(row['mean'], row['low'], row['high'], digits)} over {seeds_text(row['pairs'])}"


def seeds_text(n) -> str:
    """``1 seed``, ``10 seeds``."""
    return f"{n:g} seed" + ("" if n == 1 else "s")


def seed_list(seeds) -> str:
    """Seeds as a reader writes them: ``seed 2``, ``seeds 1-3``, ``seeds 1, 4 and 6``, ``seeds 1-5 and 8``."""
    seeds = sorted(int(s) for s in seeds)
    if not seeds:
        return "no seeds"
    runs, start = [], seeds[0]
    for a, b in zip(seeds, seeds[1:] + [None]):
        if b != a + 1:
            runs.append(str(start) if start == a else f"{start}-{a}" if a > start + 1 else f"{start}, {a}")
            start = b
    text = ", ".join(runs)
    if "," in text:
        head, _, last = text.rpartition(", ")
        text = f"{head} and {last}"
    return ("seed " if len(seeds) == 1 else "seeds ") + text


def half_width(std: float, n, level: float = LEVEL):
    """The rule's half-width at ``n`` seeds for paired differences of standard deviation ``std``."""
    if np.ndim(n):
        return np.array([half_width(std, int(k), level) for k in n])
    return _t(int(n), level) * std / math.sqrt(n) if n > 1 else math.inf


def seeds_for(std: float, target: float, level: float = LEVEL, most: int = 1000) -> int | None:
    """The fewest seeds whose interval's half-width is at most ``target`` (``None`` beyond ``most``): for an effect
    of size ``target``, the seeds at which an interval centred on it would just exclude zero."""
    if not (np.isfinite(std) and target > 0):
        return None
    for n in range(2, most + 1):
        if half_width(std, n, level) <= target:
            return n
    return None


def paired_bootstrap(pairs, metric, draws: int = 2000, level: float = LEVEL, seed: int = 0) -> dict:
    """The second view: ``pairs`` is a list, one entry per seed, of ``(gold, pred_a, pred_b)`` arrays over the same
    test examples. Each draw resamples the seeds and, within each, the test examples (the same examples for both
    arms: the comparison stays paired), and takes the mean over seeds of ``metric(gold, pred_a) - metric(gold,
    pred_b)``. Returns ``pairs``, ``mean`` (the observed mean difference), ``low`` and ``high`` (percentiles)."""
    if not pairs:
        return {"pairs": 0, "mean": math.nan, "low": math.nan, "high": math.nan, "draws": 0}
    gold = [np.asarray(g) for g, _, _ in pairs]
    if any(len(g) != len(a) or len(g) != len(b) for g, (_, a, b) in zip(gold, pairs)):
        raise ValueError("each pair needs gold labels and both arms' predictions over the same examples")
    observed = float(np.mean([metric(g, a) - metric(g, b) for g, a, b in pairs]))
    rng = np.random.default_rng(seed)
    stats = np.empty(draws)
    for i in range(draws):
        chosen = rng.integers(0, len(pairs), len(pairs))
        diffs = []
        for k in chosen:
            g, a, b = pairs[k]
            idx = rng.integers(0, len(g), len(g))
            diffs.append(metric(g[idx], np.asarray(a)[idx]) - metric(g[idx], np.asarray(b)[idx]))
        stats[i] = np.mean(diffs)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return {"pairs": len(pairs), "mean": observed, "low": float(low), "high": float(high), "draws": draws}
