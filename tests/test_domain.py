"""Reading the TAPT experiment: paired effects, the verdict's logic, the pretraining tables."""
import pandas as pd
import pytest

from hwlib.analysis import domain
from hwlib.analysis import domain_readings as readings
from hwlib.analysis import pretraining_readings as pre_readings

ARMS = {"base": "minilm", "tapt": "minilm+tapt:acl_sup:e5", "control": "minilm+tapt:agnews_sup:e5:n1688"}
BASE = [60.0, 65.0, 58.0, 62.0, 70.0]  # seed noise much larger than the effects: only pairing sees them


def _frame(tapt_gain, control_gain, jitter=(0.5, -0.5, 0.3, -0.3, 0.0)):
    rows = []
    for seed, (b, j) in enumerate(zip(BASE, jitter), start=1):
        rows += [{"model": ARMS["base"], "seed": seed, "macro_f1": b},
                 {"model": ARMS["tapt"], "seed": seed, "macro_f1": b + tapt_gain + j},
                 {"model": ARMS["control"], "seed": seed, "macro_f1": b + control_gain - j}]
    return pd.DataFrame(rows)


def test_effects_are_paired_by_seed_with_intervals():
    e = readings.effects(_frame(5.0, 1.0), ARMS, "base", "control", tapt="tapt").set_index(["arm", "minus"])
    assert list(e.index) == [("tapt", "base"), ("control", "base"), ("tapt", "control")]
    assert e.loc[("tapt", "base"), "mean"] == pytest.approx(5.0)
    assert e.loc[("tapt", "base"), "pairs"] == 5 and e.loc[("tapt", "base"), "low"] > 4
    assert e.loc[("tapt", "control"), "mean"] == pytest.approx(4.0)
    # unpaired seeds are left out: a TAPT arm with seeds 1-2 only gives two pairs
    f = _frame(5.0, 1.0)
    f = f[(f.model != ARMS["tapt"]) | (f.seed <= 2)]
    assert readings.effects(f, ARMS, "base", tapt="tapt").set_index(["arm", "minus"]).loc[("tapt", "base"), "pairs"] == 2


@pytest.mark.parametrize("tapt_gain, control_gain, control, helps, by_domain", [
    (5.0, 1.0, "control", True, True),
    (5.0, 5.0, "control", True, False),
    (5.0, 1.0, None, True, None),
    (0.0, 0.0, "control", False, False),
])
def test_the_verdict_credits_the_domain_only_over_the_control(tapt_gain, control_gain, control, helps, by_domain):
    arms = ARMS if control else {k: v for k, v in ARMS.items() if k != "control"}
    e = readings.effects(_frame(tapt_gain, control_gain), arms, "base", control, tapt="tapt")
    a = readings.assess(e, "tapt", "base", control)
    assert (a["helps"], a["domain"]) == (helps, by_domain)
    text = readings.verdict(e, "tapt", "base", control)
    assert "**tapt** minus **base**" in text and ("meets the target" in text) == (tapt_gain >= 3 and helps)


def test_nothing_stored_is_said_plainly():
    empty = readings.effects(pd.DataFrame(columns=["model", "seed", "macro_f1"]), ARMS, "base", "control",
                             tapt="tapt")
    assert readings.assess(empty, "tapt", "base", "control") is None
    assert readings.verdict(empty, "tapt", "base", "control").startswith("Not measured yet")


def _pretrain_record(name, dataset, curve, other):
    return {"name": name, "config": {"dataset": dataset, "epochs": len(curve) - 1},
            "heldout_mlm_loss": {"before": curve[0], "after": curve[-1]},
            "heldout_curve": [{"epoch": i, "loss": v} for i, v in enumerate(curve)],
            "heldout_other_domains": other, "data": {"train_texts": 1688, "train_tokens": 60000},
            "timing": {"wall_s": 600.0}, "provenance": {"device": "cpu (x86_64, 1 threads)"}}


def test_pretraining_tables_read_the_loss_on_the_task_whatever_text_was_read():
    own = _pretrain_record("t", "acl_sup", [10.0, 5.0, 4.0], {"agnews_sup": {"before": 9.0, "after": 7.0}})
    ctl = _pretrain_record("c", "agnews_sup", [9.0, 5.0, 4.5, 4.6], {"acl_sup": {"before": 10.0, "after": 6.0}})
    on_acl = pre_readings.loss_on([own, ctl], "acl_sup")
    assert on_acl.loc["t", "after"] == 4.0 and on_acl.loc["c", "after"] == 6.0 and on_acl.loc["c", "change"] == -4.0
    table = pre_readings.heldout_table([own, ctl])
    assert table.loc["c", "ACL-ARC after"] == 6.0 and table.loc["t", "tokens"] == 60000
    text = pre_readings.describe_pretraining([own, ctl])
    assert "still falling at the last epoch" in text and "lowest after epoch 2 of 3" in text


def test_a_task_without_a_recipe_of_its_own_fine_tunes_with_the_carried_over_one(results_dir):
    from hwlib import runs as E

    acl = {"learning_rate": 1e-4, "pooling": "mean", "select_on_dev": True, "epochs": 10}
    E.write_recipes("tuned", [{"model": "minilm", "method": "full", "dataset": "acl_sup", "settings": acl,
                               "dev_macro_f1": 0.7, "candidates": []}], "sweep ...")
    settings, source = domain.fine_tuning_settings("tuned", "minilm", "acl_sup")
    assert settings == acl and "chosen on ACL-ARC's dev split (recipe" in source
    settings, source = domain.fine_tuning_settings("tuned", "minilm", "agnews_sup")
    assert settings == acl | E.TRANSFER["agnews"] and "carried over" in source  # AG News: the course's 3 epochs
    with pytest.raises(ValueError, match="no full fine-tuning recipe for 'minilm' on 'laptop_sup'"):
        domain.fine_tuning_settings("tuned", "minilm", "laptop_sup")
    with pytest.raises(ValueError, match="no TAPT experiment for 'laptop_sup'"):
        domain.experiment("laptop_sup")


def test_the_tasks_are_read_side_by_side_with_their_own_controls():
    own = _pretrain_record("minilm+tapt:acl_sup:e5", "acl_sup", [10.0, 5.0, 4.0], {})
    no_ctl = {k: v for k, v in ARMS.items() if k != "control"}
    per_task = {"acl_sup": {"arms": ARMS, "tapt": "tapt", "control": "control",
                            "effects": readings.effects(_frame(5.0, 1.0), ARMS, "base", "control", tapt="tapt")},
                "agnews_sup": {"arms": no_ctl, "tapt": "tapt", "control": None,
                               "effects": readings.effects(_frame(0.0, 0.0), no_ctl, "base", tapt="tapt")}}
    t = readings.across_tasks(per_task, "base", [own])
    assert t.loc["acl_sup", "TAPT - base"] == pytest.approx(5.0) and t.loc["acl_sup", "seeds"] == 5
    assert t.loc["acl_sup", "TAPT - control"] == pytest.approx(4.0)
    assert t.loc["acl_sup", "reading"] == "gain, credited to the domain"
    assert t.loc["acl_sup", "MLM loss after"] == 4.0 and pd.isna(t.loc["agnews_sup", "MLM loss after"])
    assert pd.isna(t.loc["agnews_sup", "TAPT - control"]) and t.loc["agnews_sup", "reading"] == "no gain shown"
    text = readings.describe_across_tasks(t)
    assert "ACL-ARC (5 seeds): TAPT minus MiniLM +5.0" in text and "minus the control +4.0" in text
    assert "AG News (5 seeds)" in text and "minus the control" not in text.splitlines()[1]


def test_further_comparisons_are_paired_and_said_in_the_verdict():
    arms = ARMS | {"longer": "minilm+tapt:acl_sup:e10"}
    f = _frame(5.0, 1.0)
    longer = f[f.model == ARMS["tapt"]].assign(model=arms["longer"], macro_f1=lambda d: d.macro_f1 + 2.0)
    f = pd.concat([f, longer])
    e = readings.effects(f, arms, "base", "control", also=[("longer", "tapt")], tapt="tapt")
    e = e.set_index(["arm", "minus"])
    assert e.loc[("longer", "tapt"), "mean"] == pytest.approx(2.0) and e.loc[("longer", "tapt"), "pairs"] == 5
    assert ("longer", "base") in e.index and ("tapt", "control") in e.index
    assert ("longer", "control") not in e.index  # the control is matched to its TAPT arm only; others go in also
    with pytest.raises(ValueError, match="'tap' is not one of the arms"):
        readings.effects(f, arms, "base", "control", tapt="tap")
    text = readings.verdict(e.reset_index(), "tapt", "base", "control")
    assert "- **longer** minus **tapt**: +2.0" in text and "different from zero" in text
    assert text.count("**tapt** minus **base**") == 1


def _dev_record(model, seed, dev, test, precision="fp32"):
    return {"config": {"model": model, "seed": seed, "dataset": "acl_sup"}, "selection": {"dev_macro_f1": dev / 100},
            "metrics": {"macro_f1": test / 100, "accuracy": 0.7},
            "provenance": {"precision": precision, "device": "cpu (x86_64, 1 threads)"}}


EPOCHS = {"e5": "minilm+tapt:acl_sup:e5", "e10": "minilm+tapt:acl_sup:e10"}


def test_pretraining_epochs_are_chosen_on_dev_over_the_seeds_every_candidate_has():
    # on test the longer pretraining is far ahead; on dev the shorter one is: dev decides
    records = ([_dev_record(EPOCHS["e5"], s, 66.0 + s, 55.0) for s in range(1, 11)]
               + [_dev_record(EPOCHS["e10"], s, 64.0 + s, 70.0) for s in range(1, 6)])
    table, text = readings.epochs_on_dev(records, EPOCHS, ["e5", "e10"], tapt="e5")
    assert list(table.index) == [5, 10] and list(table.seeds) == [5, 5]  # seeds 6-10 of e5 do not vote
    assert table.loc[5, "dev macro-F1"] == pytest.approx(69.0) and table.loc[10, "dev change"].startswith("-2.0")
    assert table.loc[10, "test macro-F1 (not used)"] == pytest.approx(70.0)
    assert "Dev chooses **5 epochs** (`minilm+tapt:acl_sup:e5`)" in text and "the smallest number tried (5, 10)" in text
    assert "The library's default, 20 epochs, is untried" in text and "--model minilm+tapt:acl_sup`" in text
    assert "not dev's choice" not in text
    # the other way round, the experiment's arm is named as not the choice
    flipped = [dict(r, selection={"dev_macro_f1": 1 - r["selection"]["dev_macro_f1"]}) for r in records]
    _, text = readings.epochs_on_dev(flipped, EPOCHS, ["e5", "e10"], tapt="e5")
    assert "Dev chooses **10 epochs**" in text and "The experiment's TAPT arm is **e5**, not dev's choice" in text
    with pytest.raises(ValueError, match="two candidates or more"):
        readings.epochs_on_dev(records, EPOCHS, ["e5"])


def test_dev_choice_names_the_chosen_candidate_and_extend_arm_gives_it_the_tapt_arms_seeds(results_dir):
    from hwlib import runs as E

    records = ([_dev_record(EPOCHS["e5"], s, 66.0, 55.0) for s in range(1, 6)]
               + [_dev_record(EPOCHS["e10"], s, 67.0, 50.0) for s in range(1, 6)])
    table, _ = readings.epochs_on_dev(records, EPOCHS, ["e5", "e10"], tapt="e5")
    assert readings.dev_choice(table, EPOCHS, ["e5", "e10"]) == "e10"
    assert readings.dev_choice(pd.DataFrame(), EPOCHS, ["e5", "e10"]) is None
    acl = {"learning_rate": 1e-4, "pooling": "mean", "select_on_dev": True, "epochs": 10}
    E.write_recipes("tuned", [{"model": "minilm", "method": "full", "dataset": "acl_sup", "settings": acl,
                               "dev_macro_f1": 0.7, "candidates": []}], "sweep ...")
    exp = domain.plan("acl", seeds=[1, 2, 3, 4], candidate_seeds=[1, 2])
    spec = exp["tasks"]["acl_sup"]
    runs, records, _ = domain.collect_arms(spec["arms"], exp["settings"], "acl_sup", [1, 2, 3, 4],
                                           arm_seeds=exp["arm_seeds"])
    longer = spec["epochs"][-1]
    _, _, missing = domain.extend_arm(runs, records, spec["arms"], longer, exp["settings"], "acl_sup", [1, 2, 3, 4])
    assert sorted(c.seed for c in missing) == [1, 2, 3, 4] and {c.model for c in missing} == {spec["arms"][longer]}


def test_the_other_pretraining_budgets_keep_their_own_seeds(results_dir):
    from hwlib import runs as E

    acl = {"learning_rate": 1e-4, "pooling": "mean", "select_on_dev": True, "epochs": 10}
    E.write_recipes("tuned", [{"model": "minilm", "method": "full", "dataset": "acl_sup", "settings": acl,
                               "dev_macro_f1": 0.7, "candidates": []}], "sweep ...")
    exp = domain.plan("acl", seeds=list(range(1, 11)), candidate_seeds=[1, 2, 3])
    spec = exp["tasks"]["acl_sup"]
    assert exp["arm_seeds"] == {label: [1, 2, 3] for label in spec["few_seeds"]}
    assert exp["arm_seeds"] and not {spec["tapt"], spec["control"]} & set(exp["arm_seeds"])
    _, _, missing = domain.collect_arms(spec["arms"], exp["settings"], "acl_sup", list(range(1, 11)),
                                        arm_seeds=exp["arm_seeds"])
    by_model = {}
    for c in missing:
        by_model.setdefault(c.model, []).append(c.seed)
    assert all(by_model[spec["arms"][longer]] == [1, 2, 3] for longer in exp["arm_seeds"])
    assert by_model[spec["arms"][spec["tapt"]]] == by_model[spec["arms"][spec["control"]]] == list(range(1, 11))
    with pytest.raises(ValueError, match="not among the arms"):
        domain.collect_arms(spec["arms"], exp["settings"], "acl_sup", [1], arm_seeds={"nope": [1]})
    with pytest.raises(ValueError, match="candidate_seeds"):
        domain.plan("acl", seeds=[1], candidate_seeds=[])


def test_a_remade_checkpoint_is_said_and_its_time_counted():
    rec = _pretrain_record("t", "acl_sup", [10.0, 5.0, 4.0], {}) | {"key": "k"}
    rec["provenance"]["device"] = "cpu (x86_64, 1 threads)"
    again = {"date": "2026-12-06T09:00:00", "device": "cpu (x86_64, 1 threads)", "wall_s": 1200.0,
             "same_checkpoint": False, "heldout_mlm_loss": {"after": 4.0000007}}
    text = pre_readings.describe_pretraining([rec | {"remade": [again]}])
    assert "Made again on 2026-12-06 (20 min" in text and "held-out MLM loss 7.0e-07 from the first make's" in text
    same = pre_readings.describe_pretraining([rec | {"remade": [again | {"same_checkpoint": True}]}])
    assert "the same checkpoint, byte for byte" in same
    drifted = pre_readings.describe_pretraining([rec | {"remade": [again | {"heldout_mlm_loss": {"after": 4.05}}]}])
    assert "4.050 against the first make's 4.000" in drifted and "fp32 rounding on another CPU" not in drifted
    from hwlib.analysis import costs

    assert costs.cost(pre_readings.with_remakes([rec | {"remade": [again]}])).loc[
        "cpu (x86_64, 1 thread)", "runs"] == 2
    assert costs.cost(pre_readings.with_remakes([rec])).loc["cpu (x86_64, 1 thread)", "runs"] == 1


def test_the_domain_can_matter_without_a_gain_over_the_encoder_as_it_ships():
    # own text ahead of the other domain's, the other domain's below the base, no gain over the base shown
    e = readings.effects(_frame(0.5, -6.0, jitter=(1.0, -1.0, 0.5, -0.5, 0.0)), ARMS, "base", "control", tapt="tapt")
    a = readings.assess(e, "tapt", "base", "control")
    assert (a["helps"], a["domain"]) == (False, True)
    assert a["claim"].startswith("holds against the control") and "doing harm" in a["claim"]
    t = readings.across_tasks({"acl_sup": {"arms": ARMS, "tapt": "tapt", "control": "control", "effects": e}}, "base", [])
    assert t.loc["acl_sup", "reading"] == "ahead of the control only"  # not "no gain": the domain is shown to matter


def test_the_effects_table_names_each_comparison_in_full():
    e = readings.effects(_frame(5.0, 1.0), ARMS, "base", "control", tapt="tapt")
    view = readings.effects_view(e)
    assert "tapt minus base" in view.index and "tapt minus control" in view.index  # no blank, sparsified arm cell
    assert view.loc["tapt minus base", "mean"] == pytest.approx(round(e.set_index(["arm", "minus"]).loc[
        ("tapt", "base"), "mean"], 2))


def test_short_labels_name_the_pair_and_give_the_others_their_text_and_epochs():
    spec = domain.experiment("acl_sup")
    short = domain.short_labels(spec["arms"], spec["tapt"], spec["control"], "acl_sup")
    assert short[spec["tapt"]] == "TAPT" and short[spec["control"]] == "control" and short["MiniLM"] == "MiniLM"
    assert short["+ TAPT, AG News text, 5 epochs"] == "control (5 epochs)"
    assert short["+ TAPT, ACL-ARC text, 10 epochs"] == "TAPT (10 epochs)"
    assert len(set(short.values())) == len(short)  # one column per arm
