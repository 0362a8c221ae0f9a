"""What the classes do, from the per-example predictions that runs keep: confusion matrices summed over seeds,
per-class F1, and the most confidently wrong test examples read back with their text."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from hwlib.analysis import errors
from hwlib.train.config import RunConfig
from hwlib.train.predictions import pack
from hwlib.train.inputs import load_splits

NAMES = ["a", "b", "c"]


def _rec(seed, gold, pred, config=None):
    probs = np.full((len(gold), 3), 0.1)
    probs[np.arange(len(gold)), pred] = 0.8
    return {"config": config or {"seed": seed}, "key": f"k{seed}", "predictions": {"test": pack(probs, gold)}}


def test_confusion_and_per_class_f1_are_summed_and_averaged_over_the_seeds_that_keep_predictions():
    from sklearn.metrics import f1_score

    gold = [0, 0, 1, 1, 2, 2]
    recs = [_rec(1, gold, [0, 0, 1, 2, 2, 2]), _rec(2, gold, [0, 1, 1, 1, 2, 0]), {"config": {"seed": 3}}]
    m = errors.confusion(recs, NAMES)
    assert m.to_numpy().sum() == 12 and m.loc["a", "a"] == 3 and m.loc["c", "a"] == 1
    assert errors.seeds_with_predictions(recs) == [1, 2]
    f1 = errors.per_class_f1(recs, NAMES)
    expected = np.mean([f1_score(gold, p, average=None) for p in ([0, 0, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0])], axis=0)
    assert f1.F1.to_numpy() == pytest.approx(100 * expected) and f1.examples.tolist() == [2, 2, 2]
    t = errors.per_class_table({"x": recs, "none": recs[2:]}, NAMES)
    assert list(t.columns) == ["examples", "x", "none"] and t["none"].isna().all()


def test_the_confident_errors_are_read_back_with_their_text_and_checked_against_the_stored_labels():
    config = RunConfig(dataset="acl_sup", max_eval_samples=12, select_on_dev=True)
    names = errors.label_names("acl_sup")
    rows = load_splits(config, "[SEP]")["test"]
    gold = np.asarray(rows["label"][:])
    wrong = (gold + 1) % 6
    probs = np.full((12, 6), 0.02)
    probs[np.arange(12), gold] = 0.9
    probs[0], probs[5] = 0.02, 0.02  # examples 0 and 5: wrong, 5 the more confidently
    probs[0, wrong[0]], probs[5, wrong[5]] = 0.6, 0.9
    rec = {"config": dataclasses.asdict(config), "predictions": {"test": pack(probs, gold)}}
    t = errors.confident_errors([rec], names, k=3)
    assert len(t) == 2  # only the examples that are wrong
    assert t.text.iloc[0].startswith(rows["text"][5][:40]) and t.gold.iloc[0] == names[gold[5]]
    assert t.predicted.iloc[0] == names[wrong[5]] and t.probability.iloc[0] == 0.9 and t["wrong on"].iloc[0] == "1 of 1"
    rec["predictions"]["test"]["label"] = [int(x) for x in wrong]  # rows that no longer carry the stored labels
    with pytest.raises(ValueError, match="do not carry the labels it stored"):
        errors.confident_errors([rec], names)


def test_the_confusion_plot_writes_the_counts():
    ax = errors.plot_confusion(pd.DataFrame([[3, 1], [0, 2]], index=["a", "b"], columns=["a", "b"]))
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3"]


def test_two_views_give_the_t_interval_and_the_bootstrap_beside_it():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 300)
    good = [_rec(s, gold, np.where(rng.random(300) < 0.1, (gold + 1) % 3, gold)) for s in (1, 2, 3)]
    bad = [_rec(s, gold, np.where(rng.random(300) < 0.3, (gold + 1) % 3, gold)) for s in (1, 2, 3)]
    t = errors.two_views({"full": good, "adapter": bad, "old": [{"config": {"seed": 1}}]}, "full", draws=200)
    row = t.set_index(["comparison", "metric"]).loc[("full minus adapter", "accuracy")]
    assert row.seeds == 3 and row["seeds (t)"].startswith("+2") and " to " in row["seeds and test examples (bootstrap)"]
    assert t.set_index(["comparison", "metric"]).loc[("full minus old", "accuracy")].seeds == 0
