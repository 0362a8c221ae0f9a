"""What each change buys: only candidates that differ from the chosen recipe in one setting are compared."""
import dataclasses

import pytest

from hwlib.analysis import ablation
from hwlib.data.stats import majority_floor
from hwlib.train.config import RunConfig

BUDGET = dict(select_on_dev=True, epochs=10, patience=3, warmup_ratio=0.06, weight_decay=0.01)


def record(config: RunConfig, dev: float, test: float, epoch: int = 5) -> dict:
    return {"config": dataclasses.asdict(config), "metrics": {"macro_f1": test, "accuracy": test},
            "selection": {"dev_macro_f1": dev, "chosen_epoch": epoch}}


def test_each_row_changes_one_setting_of_the_recipe_dev_chose():
    base = RunConfig(method="adapter", **BUDGET)
    recs = [record(base.replace(learning_rate=1e-3, pooling="mean"), 0.66, 0.47),  # the recipe: best on dev
            record(base.replace(learning_rate=3e-4, pooling="mean"), 0.39, 0.27),  # lr only
            record(base.replace(learning_rate=1e-3, train_pooler=True), 0.59, 0.58),  # head only (pooling + pooler)
            record(base.replace(learning_rate=3e-4, train_pooler=True), 0.47, 0.50)]  # two changes: left out
    t = ablation.one_change_table(recs).loc[("acl_sup", "adapter")]
    assert sorted(t.index) == ["head", "learning_rate"]
    assert t.loc["head", "recipe"] == "mean" and t.loc["head", "changed to"] == "[CLS] + pooler trains"
    assert round(t.loc["learning_rate", "dev change"], 6) == -27.0
    assert round(t.loc["head", "test change"], 6) == 11.0  # test shown beside dev, never choosing


def test_the_budget_row_pairs_the_course_run_with_the_sweeps_run_at_the_course_settings():
    course = record(RunConfig(seed=1), 0.0, 0.24)
    at_course_lr = record(RunConfig(seed=1, pooling="cls", learning_rate=5e-5, **BUDGET), 0.30, 0.40, epoch=9)
    other_lr = record(RunConfig(seed=1, learning_rate=1e-4, **BUDGET), 0.70, 0.60)
    t = ablation.budget_row([course], [at_course_lr, other_lr])
    assert len(t) == 1 and list(t.iloc[0].round(6)) == [24.0, 40.0]
    assert "chose 9" in t.columns[1]
    assert "note" in ablation.budget_row([course], [other_lr]).columns


def test_the_summary_sets_each_tuned_recipe_beside_the_course_the_probe_and_the_floor():
    import pandas as pd

    from hwlib.analysis.report import majority_baseline, runs_frame

    cols = runs_frame([]).columns
    row = lambda m, s, f1: {**dict.fromkeys(cols), "dataset": "acl_sup", "method": m, "seed": s, "macro_f1": f1}
    tuned = pd.DataFrame([row("full", 1, 60.0), row("full", 2, 64.0)])
    course = pd.DataFrame([row("full", s, 24.0) for s in (1, 2, 3)])
    probe = pd.DataFrame([row("probe", 1, 43.8)])
    text = ablation.describe_recipes(tuned, course, probe, majority_baseline(["acl_sup"]))
    assert "- ACL-ARC, full fine-tuning: tuned macro-F1 62.0 ± 2.8 over 2 seeds, course's recipe 24.0 (3 seeds); above the linear probe's 43.8" in text


def test_a_recipe_chosen_at_the_edge_of_its_grid_is_named():
    grids = {"lora": {"learning_rate": [5e-4, 3e-4, 1e-4], "pooling": ["mean"]},
             "full": {"learning_rate": [1e-4, 3e-4, 5e-5]}}
    recipes = [{"method": "lora", "dataset": "acl_sup", "settings": {"learning_rate": 5e-4}},
               {"method": "full", "dataset": "acl_sup", "settings": {"learning_rate": 1e-4}}]
    text = ablation.edge_choices(recipes, grids)
    assert "LoRA on ACL-ARC: `learning_rate` = 0.0005 is the largest value" in text and "full fine-tuning on" not in text
    assert "inside" in ablation.edge_choices(recipes[1:], grids)


def test_budget_limits_count_the_seeds_that_were_still_improving_when_the_budget_ended():
    from hwlib.analysis.ablation import budget_limits

    def rec(method, seed, chosen, loss, epochs=10):
        return {"config": {"dataset": "acl_sup", "method": method, "seed": seed, "epochs": epochs},
                "selection": {"chosen_epoch": chosen, "epochs_run": epochs}, "final_train_loss": loss}

    t = budget_limits([rec("full", 1, 4.0, 0.1), rec("full", 2, 10.0, 0.05), rec("adapter", 1, 10.0, 0.4),
                       rec("adapter", 2, 10.0, 0.5), {"config": {}, "selection": {}}])  # no dev choice: left out
    assert t.loc[("acl_sup", "adapter"), "chose the budget's last epoch"] == 2
    assert t.loc[("acl_sup", "full"), "chose the budget's last epoch"] == 1
    assert t.loc[("acl_sup", "full"), "mean chosen epoch"] == 7.0
    assert t.loc[("acl_sup", "adapter"), "mean final training loss"] == pytest.approx(0.45)


def test_the_scale_note_sets_the_learning_rate_against_alpha_over_r():
    recipes = [{"method": "lora", "dataset": "acl_sup", "settings": {"learning_rate": 2e-3, "lora_rank": 64}},
               {"method": "full", "dataset": "acl_sup", "settings": {"learning_rate": 1e-4}}]
    text = ablation.describe_scale(recipes)
    assert "learning rate 0.002 at r = 64, alpha = 16, so alpha / r = 0.25" in text
    assert "at a learning rate of 0.0005 with alpha = r" in text and "full" not in text
    assert ablation.describe_scale(recipes[1:]) == "No LoRA recipe is chosen yet."


def test_changes_around_a_recipe_are_paired_by_seed_and_measure_the_reference_gap_again():
    from hwlib.analysis import paired_changes

    centre = dict(method="adapter", learning_rate=1e-3, pooling="mean", **BUDGET)
    base = RunConfig(**centre)
    ln = base.replace(train_layernorm=True)
    recs, full = [], []
    for seed, (dev, acc, dev_ln, acc_ln, acc_full) in enumerate(
            [(0.60, 0.70, 0.62, 0.72, 0.75), (0.50, 0.60, 0.53, 0.64, 0.66), (0.70, 0.65, 0.71, 0.66, 0.70)], 1):
        recs += [record(base.replace(seed=seed), dev, acc), record(ln.replace(seed=seed), dev_ln, acc_ln)]
        full.append(record(RunConfig(seed=seed, learning_rate=1e-4, pooling="mean", **BUDGET), 0.7, acc_full))
    recs.append(record(base.replace(seed=1, learning_rate=3e-4, train_layernorm=True), 0.9, 0.9))  # two changes
    t = paired_changes.paired_changes(recs, centre, full)
    assert list(t.index) == ["the recipe", "train_layernorm: False → True"]
    row = t.loc["train_layernorm: False → True"]
    # dev changes +2, +3, +1 points: mean +2.0, sd 1, t(2) 4.303 * 1 / sqrt(3) = 2.48
    assert row["seeds"] == 3 and row["dev macro-F1 change"] == "+2.0 (-0.5 to +4.5)"
    assert row["test accuracy change"].startswith("+2.3 ")  # +2, +4, +1
    assert t.loc["the recipe", "full minus it, accuracy"].startswith("+5.3 ")  # 5, 6, 5
    assert row["full minus it, accuracy"].startswith("+3.0 ")  # 3, 2, 4: the gap measured again, narrower
    text = paired_changes.chosen_on_dev(recs, centre)
    assert "over seeds 1-3:" in text and "Dev chooses **train_layernorm True**" in text
    label, chosen, seeds = paired_changes.dev_choice(recs, centre)
    assert chosen == centre | {"train_layernorm": True} and seeds == [1, 2, 3]
    # the head counts as one change: pooling and the pooler together
    head = base.replace(seed=1, pooling="cls", train_pooler=True)
    _, chosen, seeds = paired_changes.dev_choice(recs[:2] + [record(head, 0.99, 0.5)], centre)
    assert chosen == centre | {"pooling": "cls", "train_pooler": True} and seeds == [1]
    assert "bracket" not in text  # a switch has no edge
    # a learning rate chosen at the top of what was tried leaves the bracket open upward; inside it, closed
    faster = [record(base.replace(seed=s, learning_rate=3e-3), 0.95, 0.7) for s in (1, 2, 3)]
    text = paired_changes.chosen_on_dev(recs + faster, centre)
    assert "Dev chooses **learning_rate 0.003**" in text
    assert "highest `learning_rate` tried (0.001, 0.003)" in text and "step up is untried" in text
    slower = [record(base.replace(seed=s, learning_rate=1e-2), 0.1, 0.2) for s in (1, 2, 3)]
    text = paired_changes.chosen_on_dev(recs + faster + slower, centre)
    assert "bracket" not in text and "floor" not in text
    # a step so large that every seed predicts the majority class: named as a collapse
    floor = majority_floor("acl_sup")
    collapsed = [record(base.replace(seed=s, learning_rate=1e-2), 0.1, floor["accuracy"] / 100) for s in (1, 2, 3)]
    for r in collapsed:
        r["metrics"]["macro_f1"] = floor["macro_f1"] / 100
    text = paired_changes.chosen_on_dev(recs + faster + collapsed, centre)
    assert "At the majority-class floor, having learned only the label frequencies: learning_rate 0.01 (3 of 3 " \
           "seeds)." in text
    with pytest.raises(ValueError, match="no stored run of the recipe"):
        paired_changes.paired_changes(recs[1::2], centre)
