"""The report's conclusions, one ``findings.Finding`` each, decided from the stored evidence (``evidence.gather``)
by the rules of ``hwlib.analysis.findings``. ``ledger(ev)`` returns them in the report's order: Task 2, then Task 3."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hwlib.analysis import findings as F
from hwlib.analysis.correlation import fmt_p, permutation_spearman, stratified_spearman
from hwlib.analysis.domain import other_text
from hwlib.analysis.intervals import fmt, seeds_for
from hwlib.analysis.findings import NAMES, ORDER
from hwlib.analysis.report import adapter_gap
from hwlib.models.tapt import parse


def _brief(nums: dict) -> str:
    """Means only, for the table at a glance: ``AG News 92.3, restaurant 72.8, ACL-ARC 62.5 macro-F1``."""
    return ", ".join(f"{NAMES[d]} {n['mean']:.1f}" for d, n in nums.items()) + " macro-F1"


def _means(frame: pd.DataFrame, method: str = "full", col: str = "macro_f1") -> dict:
    return {d: F.interval_over_seeds(frame[(frame.method == method) & (frame.dataset == d)][col]) for d in ORDER}


def _listed(nums: dict, digits: int = 1) -> str:
    return ", ".join(f"{NAMES[d]} {F.shown_mean(n, digits)} ({n['n']} seeds)" for d, n in nums.items())


def ordering(ev) -> F.Finding:
    nums = _means(ev.tuned)
    verdict, why = F.ordered(nums, ORDER)
    course = _means(ev.course)
    return F.Finding(
        "ordering", "Task 2", "AG News > restaurant > ACL-ARC",
        "Performance is highest on AG News, then on restaurant reviews, then on ACL-ARC, for every model.",
        f"macro-F1 of full fine-tuning, recipes chosen on dev: {_listed(nums)}", verdict,
        "full fine-tuning with the recipe chosen on ACL-ARC's dev (carried to the others), every stored seed",
        "claims-ordering", nums["acl_sup"], why,
        "macro-F1 " + _listed(course), headline=_brief(nums))


def reason(ev) -> F.Finding:
    """ACL-ARC hardest because it has the most labels? Size held equal (restaurant and AG News cut to ACL-ARC's
    training size), label count set against balance, and ACL-ARC's test rows seen in training scored apart."""
    from hwlib.analysis.errors import scored_apart, seen_in_train

    nums = {d: F.interval_over_seeds(ev.sized[ev.sized.dataset == d].macro_f1) for d in ORDER[:2]}
    nums["acl_sup"] = _means(ev.tuned)["acl_sup"]
    labels = ev.labels
    facts = "; ".join(f"{NAMES[d]} {labels[d]['labels']} labels, largest class {labels[d]['majority']:.0f} %, "
                      f"balance {labels[d]['balance']:.2f}" for d in ORDER)
    full = [r for r in ev.tuned_records if r["config"]["method"] == "full" and r["config"]["dataset"] == "acl_sup"]
    apart = scored_apart(full, seen_in_train("acl_sup"))
    seen = ""
    if len(apart):
        s, u = apart[("seen in train", "macro_f1")], apart[("unseen", "macro_f1")]
        seen = (f"; ACL-ARC's test rows whose text is also in train score {s.mean():.1f} macro-F1, the others "
                f"{u.mean():.1f} (full fine-tuning, {len(apart)} seeds with predictions)")
    short = min(nums[d]["n"] for d in ORDER[:2])
    if short < F.MIN_RUNS:
        return F.Finding(
            "reason", "Task 2", "ACL-ARC hardest because it has most labels",
            "ACL-ARC is the hardest dataset because it has the most labels.",
            (f"at ACL-ARC's {ev.train_size:,} training examples, macro-F1: {_listed(nums)}. {facts}{seen}" if short
             else f"{facts}; the size-matched runs are not stored yet{seen}"), "not shown",
            "full fine-tuning with ACL-ARC's recipe on stratified samples of restaurant and AG News of ACL-ARC's size"
            + (f" ({short} draws each)" if short else ""),
            "claims-hardest", nums["acl_sup"], F.seeds_short(short),
            headline=(f"at {ev.train_size:,} examples: " + _brief(nums)) if short
            else "the size-matched runs are not stored yet")
    overlap = [NAMES[d] for d in ORDER[:2] if not nums["acl_sup"]["high"] < nums[d]["low"]]
    by_labels = nums["agnews_sup"]["low"] > nums["restaurant_sup"]["high"]  # 4 labels above 3: not the label count
    measured = (f"at ACL-ARC's {ev.train_size:,} training examples, macro-F1: {_listed(nums)}: "
                + ("ACL-ARC is still the hardest, so size alone does not explain it" if not overlap else
                   f"ACL-ARC's interval overlaps {' and '.join(overlap)}'s, so at equal size these runs cannot tell "
                   "them apart and part of the difference may be size")
                + ("; AG News, with more labels, is easier than restaurant at the same size, so the number of labels "
                   "does not set the order; it follows class balance, though three tasks cannot show that balance is "
                   "the cause" if by_labels else "") + f". {facts}{seen}")
    return F.Finding(
        "reason", "Task 2", "ACL-ARC hardest because it has most labels",
        "ACL-ARC is the hardest dataset because it has the most labels.", measured,
        "does not hold" if by_labels else "not testable here",
        "full fine-tuning with ACL-ARC's recipe on stratified samples of restaurant and AG News of ACL-ARC's size "
        f"({short} draws each); the label statistics of the data chapter",
        "claims-hardest", nums["acl_sup"],
        "" if by_labels else "three datasets cannot separate the number of labels from class imbalance and domain: "
        "ACL-ARC has the most labels and the rarest classes, and it is the only scientific text",
        "macro-F1 of full fine-tuning on the whole tasks " + _listed(_means(ev.course)),
        headline=f"at {ev.train_size:,} examples: " + _brief(nums))


def scibert(ev) -> list[F.Finding]:
    from hwlib.analysis.claims import quoted

    sci, bert = quoted("SciBERT (scivocab, uncased)"), quoted("BERT-Base")
    out = [F.Finding(
        "scibert", "Task 2", "SciBERT ahead on ACL-ARC",
        "SciBERT is ahead of BERT and RoBERTa on ACL-ARC.",
        f"not run here (the Hugging Face hub is unreachable); quoted, not measured: SciBERT {sci} against "
        f"BERT-Base {bert} macro-F1 on ACL-ARC (Beltagy et al. 2019)", "cannot be run here",
        "the SciBERT paper's Table 1 (quoted)", "claims-published",
        headline=f"quoted: SciBERT {sci}, BERT-Base {bert} macro-F1")]
    acl = ev.tapt.get("acl_sup")
    e = _effect(acl, acl["spec"]["tapt"], acl["spec"]["control"]) if acl else None
    plain = _effect(acl, acl["spec"]["tapt"], "MiniLM") if acl else None
    verdict, why = F.judge_effect(e) if e is not None else ("not shown", "no paired TAPT runs stored")
    epochs = parse(acl["spec"]["arms"][acl["spec"]["tapt"]]).epochs if acl else None
    controls = other_text(acl["spec"]["arms"], "acl_sup") if acl else set()
    other = [(a, b) for a, b in (acl["spec"]["also"] if acl else []) if b in controls]  # a TAPT arm, another control
    shorter = _effect(acl, *other[0]) if other else None
    out.append(F.Finding(
        "domain", "Task 2", "because of its domain pretraining (analogue)",
        "SciBERT's lead on ACL-ARC comes from its pretraining on scientific text.",
        f"macro-F1 of MiniLM pretrained on ACL-ARC's text ({epochs} epochs, chosen on dev) minus as much "
        "pretraining on news text (the control): "
        + (F.shown(_num(e)) if e is not None else "—")
        + (f"; minus MiniLM with no further pretraining (a gain over the encoder as it ships, a different question): "
           f"{F.shown(_num(plain))}" if plain is not None else "")
        + (f"; the {parse(acl['spec']['arms'][other[0][0]]).epochs}-epoch pair, run first, not dev's choice: "
           f"{F.shown(_num(shorter))}" if shorter is not None else ""), verdict,
        "the domain-pretraining chapter's ACL-ARC arms, paired by seed (an analogue in a small model)",
        "claims-domain", _num(e), why,
        headline=f"TAPT minus the news control, macro-F1 {F.shown(_num(e))}" if e is not None else "—"))
    parts, texts, nums, spreads, wide = [], [], [], [], []
    for task in ("restaurant_sup", "agnews_sup"):
        t = ev.tapt.get(task)
        e = _effect(t, t["spec"]["tapt"], "MiniLM") if t else None
        if e is None:
            continue
        v, far = F.judge_value(0.0, {"pairs": int(e["pairs"]), **{k: e[k] for k in ("mean", "low", "high", "std")}},
                               "points")
        parts.append(v)
        wide.append(f"{NAMES[task]}: {far}" if far and e["pairs"] >= F.MIN_RUNS else "")
        nums.append(_num(e))
        texts.append(f"{NAMES[task]} {F.shown(_num(e))}")
        need = seeds_for(e["std"], F.TOLERANCE["points"]) if e["pairs"] > 1 else None
        spreads.append(f"{NAMES[task]} {need or 'over 1,000'}" if e["pairs"] > 1 else "")
    short = [n["n"] for n in nums if n["n"] < F.MIN_RUNS]
    how = F.seeds_short(min(short)) if short else ""
    if how and any(spreads):
        how += (f"; at the spreads measured so far, an interval within ±{F.TOLERANCE['points']:g} takes "
                + ", ".join(x for x in spreads if x) + " seeds")
    how = "; ".join(x for x in [how, *wide] if x)  # a task on enough seeds whose interval is still too wide
    out.append(F.Finding(
        "elsewhere", "Task 2", "about level elsewhere (analogue)",
        "On restaurant reviews and AG News SciBERT is about level with the general models.",
        "TAPT on each task's own text minus MiniLM, macro-F1: " + ("; ".join(texts) or "—")
        + f" (level: within ±{F.TOLERANCE['points']:g}); no paper quoted here reports SciBERT on either task, so "
        "only the analogue can be measured", F.combine(parts) if parts else "not shown",
        "the domain-pretraining chapter's restaurant and AG News arms (an analogue)",
        "claims-domain", nums[0] if nums else F.number(),
        how, headline=("TAPT minus MiniLM, macro-F1: " + "; ".join(texts)) if texts else "—"))
    return out


def _effect(task: dict, arm: str, minus: str):
    t = task["effects"]
    if t is None or t.empty:
        return None
    row = t[(t.arm == arm) & (t.minus == minus)]
    return row.iloc[0].to_dict() if len(row) else None


def _num(e, unit: str = "points") -> dict:
    return F.number() if e is None else F.number(e["mean"], e["low"], e["high"], e["pairs"], unit)


def loss_within(ev) -> F.Finding:
    """Within a dataset and a method, across the configurations and seeds that learned: lower loss, better score?
    One stratified permutation test over every group of at least ``MIN_RUNS`` runs decides; each group's own test is
    shown beside it."""
    groups, tests = [], []
    for (d, m), g in ev.learned.groupby(["dataset", "method"], sort=True):
        if len(g) < F.MIN_RUNS or d not in NAMES:
            continue
        groups.append((g.final_train_loss.to_numpy(), g.macro_f1.to_numpy()))
        tests.append((d, m, permutation_spearman(g.final_train_loss, g.macro_f1), g.settings.nunique()))
    pooled = stratified_spearman(groups)
    if not tests:
        verdict = "not shown"
    elif pooled["p"] < 0.05:
        verdict = "holds" if pooled["rho"] < 0 else "does not hold"
    else:
        verdict = "not shown"
    each = "; ".join(f"{NAMES[d]} {m}: {r['rho']:+.2f}, {fmt_p(r)} ({r['n']} runs, {k} settings)"
                     for d, m, r, k in tests)
    return F.Finding(
        "loss_within", "Task 2", "lower training loss, better score (within a method)",
        "A lower training loss goes with better test performance.",
        (f"Spearman's rank correlation of final training loss and test macro-F1 within each task and method, "
         f"averaged: {pooled['rho']:+.2f} ({fmt_p(pooled)}, {pooled['n']} runs in {pooled['groups']} groups). "
         f"Each group: {each}") if tests else "fewer than 5 learned runs per task and method", verdict,
        "every stored run of MiniLM that learned (course settings, sweeps, recipes), grouped by task and method, "
        f"groups of at least {F.MIN_RUNS} runs; a permutation test within the groups",
        "claims-loss",
        F.number(pooled["rho"], n=pooled["n"], unit="Spearman"), "" if tests else F.seeds_short(0))


def loss_between(ev) -> F.Finding:
    """Between methods: the adapters' higher training loss going with their lower score, paired by seed, on each
    task's own best configuration (``evidence.refined_frame``: dev's later choice where a search found one)."""
    from hwlib.analysis.evidence import later_choices, refined_frame

    gap = adapter_gap(refined_frame(ev))
    parts, texts, short, hows = [], [], [], []
    for d in ORDER:
        if d not in gap.index:
            continue
        r = gap.loc[d]
        loss, score = F.paired_of(r, "final_train_loss"), F.paired_of(r, "macro_f1")
        if r["seeds"] < F.MIN_RUNS:
            parts.append("not shown")
            hows.append(f"{NAMES[d]}: {F.seeds_short(int(r['seeds']))}")
        elif loss["low"] > 0 and score["low"] > 0:
            parts.append("holds")
        elif loss["high"] < 0 or score["high"] < 0:
            parts.append("does not hold")
        else:
            parts.append("not shown")
            open_ = score if loss["low"] > 0 else loss
            need = seeds_for(open_["std"], abs(open_["mean"]))
            hows.append(f"{NAMES[d]}: the {'macro-F1' if open_ is score else 'loss'} interval contains zero "
                        f"(±{(open_['high'] - open_['low']) / 2:.{1 if open_ is score else 3}f} over "
                        f"{int(r['seeds'])} seeds; at this spread a gap of the measured size would be shown from "
                        f"{need or 'over 1,000'} seeds)")
        short.append(f"{NAMES[d]} loss {loss['mean']:+.3f}, macro-F1 {score['mean']:+.1f}")
        texts.append(f"{NAMES[d]}: loss {fmt(loss['mean'], loss['low'], loss['high'], 3)}, macro-F1 "
                     f"{fmt(score['mean'], score['low'], score['high'])} ({int(r['seeds'])} seeds)")
    later = later_choices(ev)
    return F.Finding(
        "loss_between", "Task 2", "lower training loss, better score (between methods)",
        "The method with the higher training loss (adapters) scores lower.",
        "adapters minus full fine-tuning in final training loss, full minus adapters in macro-F1: "
        + ("; ".join(texts) or "—"), F.combine(parts) if parts else "not shown",
        "the recipes chosen on dev" + (f", with dev's later choices for {later}" if later else "")
        + ", full fine-tuning and adapters paired by seed",
        "claims-loss",
        F.gap_number(gap.loc["acl_sup"], "final_train_loss", "loss") if "acl_sup" in gap.index else F.number(),
        "; ".join(hows) if "not shown" in parts else "",
        headline="loss of adapters minus full, macro-F1 of full minus adapters: " + "; ".join(short)
        + (", dev's later choices" if later else ""))


def ledger(ev=None) -> list[F.Finding]:
    """Every conclusion of the report, in its order: Task 2's, then Task 3's (``ledger_task3``)."""
    from hwlib.analysis.evidence import gather
    from hwlib.analysis.ledger_task3 import adapter_findings, memory_findings

    ev = gather() if ev is None else ev
    return ([ordering(ev), reason(ev), *scibert(ev), loss_within(ev), loss_between(ev)]
            + memory_findings() + adapter_findings(ev))
