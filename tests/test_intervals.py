"""The book's one rule for paired comparisons (Student t over paired seeds), what it says about seeds, and the second
view that also resamples the test examples."""
import math

import numpy as np
import pytest

from hwlib.analysis import intervals as I
from hwlib.train import predictions as Pr


def test_the_rule_is_the_student_t_interval_of_the_paired_differences():
    t = I.paired_t([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776
    assert (t["pairs"], t["mean"]) == (5, 3.0) and t["std"] == pytest.approx(math.sqrt(2.5))
    assert t["high"] - t["mean"] == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5))
    assert I.from_summary(3.0, math.sqrt(2.5), 5) == pytest.approx(t)
    one = I.paired_t([2.0])
    assert one["pairs"] == 1 and math.isnan(one["low"]) and math.isnan(one["high"])


def test_one_format_for_a_difference_and_its_interval():
    assert I.fmt(2.2, -5.34, 9.61) == "+2.2 (-5.3 to +9.6)"
    assert I.fmt(2.2) == "+2.2" and I.fmt(float("nan")) == "—"
    assert I.fmt_row(I.paired_t([1.0, 3.0]), digits=0).endswith("over 2 seeds")


def test_seeds_needed_for_a_half_width():
    # sd 6 (ACL-ARC's paired macro-F1 spread): 5 seeds leave about +-7.5, 3 points need many more
    assert I.half_width(6.0, 5) == pytest.approx(2.7764451 * 6 / math.sqrt(5))
    n = I.seeds_for(6.0, 3.0)
    assert I.half_width(6.0, n) <= 3.0 < I.half_width(6.0, n - 1) and 15 < n < 20
    assert list(I.half_width(6.0, [2, 10])) == [I.half_width(6.0, 2), I.half_width(6.0, 10)]
    assert I.seeds_for(float("nan"), 3.0) is None and I.seeds_for(100.0, 0.1, most=50) is None


def test_the_fast_metrics_are_scikit_learns():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        g, p = rng.integers(0, 5, 40), rng.integers(0, 4, 40)
        assert Pr.macro_f1(g, p) == pytest.approx(100 * f1_score(g, p, average="macro"))
        assert Pr.accuracy(g, p) == pytest.approx(100 * accuracy_score(g, p))


def _seeds(rng, n_seeds, n, flip_a, flip_b):
    out = []
    for _ in range(n_seeds):
        g = rng.integers(0, 3, n)
        a = np.where(rng.random(n) < flip_a, (g + 1) % 3, g)
        b = np.where(rng.random(n) < flip_b, (g + 1) % 3, g)
        out.append((g, a, b))
    return out


def test_the_bootstrap_is_paired_and_counts_the_test_examples_too():
    rng = np.random.default_rng(1)
    same = [(g, a, a) for g, a, _ in _seeds(rng, 4, 200, 0.3, 0.3)]
    b = I.paired_bootstrap(same, Pr.accuracy, draws=200)
    assert b["mean"] == b["low"] == b["high"] == 0  # identical predictions: no difference in any resample
    better = _seeds(rng, 5, 200, 0.1, 0.3)  # arm a errs on 10 %, arm b on 30 %: +20 points
    b = I.paired_bootstrap(better, Pr.accuracy, draws=300)
    assert 0 < b["low"] < b["mean"] < b["high"] and 12 < b["mean"] < 28 and b["pairs"] == 5
    with pytest.raises(ValueError, match="same examples"):
        I.paired_bootstrap([(np.zeros(3), np.zeros(3), np.zeros(2))], Pr.accuracy)


def test_paired_predictions_pair_by_seed_and_by_rows():
    def rec(seed, gold, pred):
        probs = np.eye(3)[pred]
        return {"config": {"seed": seed}, "predictions": {"test": Pr.pack(probs, gold)}}

    a = [rec(1, [0, 1, 2], [0, 1, 1]), rec(2, [0, 1, 2], [0, 0, 2]), rec(3, [0, 1, 2], [0, 1, 2])]
    b = [rec(1, [0, 1, 2], [0, 0, 0]), rec(2, [2, 1, 0], [0, 0, 0]), {"config": {"seed": 3}}]
    pairs = Pr.paired_predictions(a, b)
    assert len(pairs) == 1 and list(pairs[0][1]) == [0, 1, 1]  # seed 2: other rows; seed 3: no predictions kept


def test_the_power_plan_says_how_many_seeds_each_comparison_needs():
    import pandas as pd

    from hwlib.analysis import power

    effects = {"acl_sup": pd.DataFrame([{"arm": "TAPT", "minus": "MiniLM", "pairs": 5, "mean": 2.2, "std": 6.0},
                                        {"arm": "one", "minus": "MiniLM", "pairs": 1, "mean": 9.0, "std": float("nan")}])}
    t = power.plan(effects, target=3.0)
    assert len(t) == 1  # one seed gives no spread: left out
    r = t.iloc[0]
    assert r["± now"] == pytest.approx(I.half_width(6.0, 5)) and r["seeds for ±3"] == I.seeds_for(6.0, 3.0)
    assert r["seeds for the mean"] == I.seeds_for(6.0, 2.2) > r["seeds for ±3"]
    text = power.how_far(effects["acl_sup"].iloc[0], 3.0)
    assert f"±{I.half_width(6.0, 5):.1f} points now over 5 seeds" in text and f"from {I.seeds_for(6.0, 2.2)} seeds" in text
    assert "at least two more seeds" in power.how_far(effects["acl_sup"].iloc[1])
    assert f"spread by 6.0 points (sd) over 5 seeds; telling 3 points from zero needs {I.seeds_for(6.0, 3.0)} seeds" \
        in power.describe(t)
    assert power.describe(t.iloc[:0]).startswith("No comparison")
    shown = power.show(t.assign(**{"seeds for the mean": [None]}))
    assert shown["seeds for the mean"].tolist() == ["> 1,000"]
    assert shown.index[0][0] == "ACL-ARC" and shown["± now"].iloc[0] == round(I.half_width(6.0, 5), 2)
    ax = power.plot_half_widths(t)
    assert len(ax.lines) == 3  # the curve, its dot, the target line


def test_seeds_are_listed_as_a_reader_writes_them():
    assert I.seed_list([3, 1, 2]) == "seeds 1-3" and I.seed_list([2]) == "seed 2"
    assert I.seed_list([1, 4, 6]) == "seeds 1, 4 and 6" and I.seed_list([1, 2, 3, 4, 5, 8]) == "seeds 1-5 and 8"
    assert I.seed_list([1, 2]) == "seeds 1 and 2" and I.seed_list(range(1, 11)) == "seeds 1-10"
    assert I.seeds_text(1) == "1 seed" and I.seeds_text(10) == "10 seeds"
