"""The report's Task 3 conclusions, one ``findings.Finding`` each: the memory figures of the 3B model (decided by the
GPU measurement of the 3B-class encoder, with the corrected formulas beside it) and the adapters against full
fine-tuning (decided by the recipes chosen on dev, paired by seed; the course's settings shown beside). A task's own
drop and training-loss gap rest on the best configuration dev found there (``evidence.refined_frame``); the finding
that compares the tasks keeps the sweep's recipe, one recipe on all three, so that the tasks differ in nothing else."""
from __future__ import annotations

import math

from hwlib import runs as E
from hwlib.analysis import findings as F
from hwlib.analysis.findings import NAMES, ORDER
from hwlib.analysis.intervals import fmt
from hwlib.analysis.report import adapter_gap
from hwlib.machine.provenance import device_words

GAP_CLAIM = {"acl_sup": 4.0, "restaurant_sup": 0.5, "agnews_sup": 0.0}  # accuracy points, the report's drops
LOSS_GAP_CLAIM = 0.1
SHAPE = {"b": 16, "s": 256}  # the book's training shape: the course's batch, the runs' maximum length


def memory_numbers() -> dict:
    """The report's memory figures beside what the GPU measured (fp32 and bf16 autocast) at ``SHAPE`` for the
    3B-class encoder, the corrected formulas' step peaks (ZeRO's mixed precision) and the exact trainable shares."""
    from hwlib import memory
    from hwlib.memory import gpu

    fig = {k: float(v) for k, v in memory.report_figures().items()}
    out = {"report": fig, "measured": {}, "zero": {}}
    rec = gpu.load()
    if rec is not None:
        for c in rec["cases"]:
            if c["encoder"] == "3B-class" and c["optimizer"] == "fused" and c["autocast"] is None:
                out.setdefault("fp32_by_shape", {}).setdefault((c["b"], c["s"]), {})[c["method"]] = c["measured"]["peak"]
            if c["encoder"] == "3B-class" and c["optimizer"] == "fused" and (c["b"], c["s"]) == tuple(SHAPE.values()):
                out["measured"].setdefault(c["autocast"] or "fp32", {})[c["method"]] = c["measured"]["peak"] / memory.GB
                if c["method"] == "adapter":
                    out["trainable_measured"] = 100 * c["measured"]["parameters"]["trainable_fraction"]
        out["device"] = device_words(rec["provenance"].get("device", "a GPU"))
    for method in memory.METHODS:
        mem = memory.training_memory(memory.BERT_3B, method, "mixed")
        out["zero"][method] = float(memory.evaluate({"p": memory.step_peak(mem)}, **SHAPE)["p"]) / memory.GB
        out.setdefault("zero_floor", {})[method] = float(
            memory.evaluate({"w": mem["weights"] + mem["optimizer"]}, b=1, s=1)["w"]) / memory.GB
    n = fig["total_adapter_params"]
    out["trainable_added"] = 100 * n / (memory.REPORT["P"] + n)  # adapters added to the 3B, not carved out of it
    return out


def _band(claimed: float, measured: float) -> str:
    return "holds" if abs(measured - claimed) <= F.MEMORY_BAND * claimed else "does not hold"


def memory_findings(nums: dict | None = None) -> list[F.Finding]:
    nums = memory_numbers() if nums is None else nums
    fig, meas, zero = nums["report"], nums["measured"], nums["zero"]
    where = f"on an {nums.get('device', 'a GPU')}, b = {SHAPE['b']}, s = {SHAPE['s']}"
    out = []
    for key, method, claimed, said in (
            ("memory_full", "full", fig["full_GB"], "Fine-tuning the 3B model without adapters needs 30 GB."),
            ("memory_adapter", "adapter", fig["adapters_GB"], "With adapters it needs 12.12 GB.")):
        m32 = meas.get("fp32", {}).get(method, math.nan)
        m16 = meas.get("bf16", {}).get(method, math.nan)
        verdict = _band(claimed, m32) if math.isfinite(m32) else "not shown"
        out.append(F.Finding(
            key, "Task 3", f"{claimed:g} GB {'with adapters' if method == 'adapter' else 'without adapters'}", said,
            f"the step peak of the 3B-class encoder {where}: {m32:.1f} GB in fp32, {m16:.1f} GB under bf16 "
            f"autocast; the corrected formula (ZeRO's mixed precision) {zero[method]:.1f} GB, and weights with "
            f"optimizer state alone {nums['zero_floor'][method]:.1f} GB", verdict,
            f"the GPU measurement (results/memory/cuda.json) and hwlib.memory.training_memory; it holds within "
            f"{F.MEMORY_BAND:.0%} of the measured fp32 peak", "claims-memory",
            F.number(m32, n=1, unit="GB"), "" if math.isfinite(m32) else "no GPU measurement stored",
            headline=f"{m32:.1f} GB measured (fp32), {zero[method]:.1f} GB (formula, ZeRO)"))
    save = {k: 100 * (1 - v["adapter"] / v["full"]) for k, v in meas.items() if {"full", "adapter"} <= set(v)}
    zsave = 100 * (1 - zero["adapter"] / zero["full"])
    fp32 = save.get("fp32", math.nan)
    others = "; ".join(f"{100 * (1 - v['adapter'] / v['full']):.1f} % at b = {b}, s = {s_}"
                       for (b, s_), v in sorted(nums.get("fp32_by_shape", {}).items())
                       if (b, s_) != tuple(SHAPE.values()) and {"full", "adapter"} <= set(v))
    out.append(F.Finding(
        "memory_saving", "Task 3", "adapters save 59.6 %", "Adapters save 17.88 GB, 59.6 % of the memory.",
        f"{where}: {fp32:.1f} % in fp32, {save.get('bf16', math.nan):.1f} % under bf16 autocast; "
        f"{zsave:.1f} % by the corrected formula under ZeRO's accounting; in fp32 {others or 'at no other shape'}. The "
        "share is not a constant: adapters remove the frozen weights' gradients and optimizer state, not the "
        "activations, which grow with b and s",
        _band(fig["saved_percent"], fp32) if math.isfinite(fp32) else "not shown",
        "the GPU measurement and hwlib.memory.training_memory", "claims-memory",
        F.number(fp32, n=1, unit="%"), headline=f"{fp32:.1f} % (fp32), {zsave:.1f} % (formula, ZeRO)"))
    share = nums.get("trainable_measured", nums["trainable_added"])
    out.append(F.Finding(
        "trainable_share", "Task 3", "0.6668 % trainable", "With adapters 0.6668 % of the parameters train.",
        f"{nums['trainable_added']:.4f} % with the report's own numbers once the adapters are added to the 3B rather "
        f"than counted inside it; {share:.4f} % in the measured 3B-class encoder (exact parameter counts, the "
        "classification head trained too)", _band(fig["trainable_percent"], share),
        "hwlib.memory.report_figures and the GPU measurement's parameter counts",
        "claims-memory", F.number(share, n=1, unit="%")))
    return out


def _gap_text(r, col: str, digits: int = 1) -> str:
    return f"{fmt(r[f'{col}_gap'], r[f'{col}_gap_low'], r[f'{col}_gap_high'], digits)} ({int(r['seeds'])} seeds)"


def adapter_findings(ev) -> list[F.Finding]:
    """The accuracy each dataset loses to adapters, whether the loss grows with difficulty, and the training-loss
    gap: on the recipes chosen on dev (the verdict) and under the course's settings (beside it)."""
    from hwlib.analysis.evidence import later_choices, refined_frame
    from hwlib.analysis.report import floor_only

    gap, course = adapter_gap(ev.tuned), adapter_gap(ev.course)
    refined_runs = refined_frame(ev)  # each task's best configuration found on its dev
    own, floored = adapter_gap(refined_runs), floor_only(refined_runs)
    out = []
    for d in reversed(ORDER):  # ACL-ARC, restaurant, AG News: the report's order
        claimed = GAP_CLAIM[d]
        if d not in own.index:
            out.append(F.Finding(f"adapter_drop_{d}", "Task 3", f"adapters lose about {claimed:g} on {NAMES[d]}",
                                 f"Adapters lose about {claimed:g} % accuracy on {NAMES[d]}.", "—", "not shown",
                                 "the recipes chosen on dev", "claims-adapters", F.number(),
                                 F.seeds_short(0)))
            continue
        r, refined = own.loc[d], {m: ev.refined.get((d, m)) for m in ("full", "adapter")}
        verdict, how_far = F.judge_value(claimed, F.paired_of(r, "accuracy"), "points")
        edge = F.edge_note(claimed, F.paired_of(r, "accuracy"))
        if floored.get(d):  # an arm that learned nothing in any seed: its gap says nothing about the method
            verdict, how_far = "not testable here", (f"every {' and every '.join(floored[d])} seed sits at the "
                                                     "majority-class floor")
        recipe = "the sweep's recipe" if d == E.TRANSFER_FROM else "the recipe carried from the sweep"
        later = " and ".join("full fine-tuning's" if m == "full" else "the adapters'" for m in refined if refined[m])
        out.append(F.Finding(
            f"adapter_drop_{d}", "Task 3", f"adapters lose about {claimed:g} on {NAMES[d]}",
            f"Adapters lose about {claimed:g} % accuracy on {NAMES[d]}.",
            f"full fine-tuning{_at(refined['full'])} minus adapters{_at(refined['adapter'])}"
            + (f" ({'each ' if all(refined.values()) else ''}dev's choice in a search around {recipe})" if later
               else "") + f", accuracy points: {_gap_text(r, 'accuracy')}"
            + (f" ({edge})" if edge else "")
            + (f"; at {recipe} {_gap_text(gap.loc[d], 'accuracy')}" if later else ""),
            verdict,
            "the recipes chosen on dev" + (f", {later} from a later search around {recipe}" if later else "")
            + ", full fine-tuning and adapters paired by seed",
            "claims-adapters",
            F.gap_number(r, "accuracy"), how_far,
            _gap_text(course.loc[d], "accuracy") if d in course.index else "",
            headline=f"accuracy lost to adapters {F.shown(F.gap_number(r, 'accuracy'))}" + (f" ({edge})" if edge else "")
            + (", dev's later choice" if later else "")))
    out.append(drop_grows(gap, course))
    out.append(loss_gap(own, course, later_choices(ev)))
    return out


def _at(refined) -> str:
    """`` at learning rate 0.003`` for an arm a later search on dev chose, else ``""``."""
    return f" at {refined['label'].replace('_', ' ')}" if refined else ""


def drop_grows(gap, course=None) -> F.Finding:
    """The gap ordered by difficulty (ACL-ARC hardest, AG News easiest): each gap's interval wholly above the next."""
    order = [d for d in reversed(ORDER)]
    nums = {d: (F.gap_number(gap.loc[d], "accuracy") if d in gap.index else F.number()) for d in order}
    verdict, why = F.ordered(nums, order)
    text = ", ".join(f"{NAMES[d]} {F.shown(n)}" for d, n in nums.items())
    return F.Finding(
        "drop_grows", "Task 3", "the drop grows with difficulty",
        "The harder the task, the more accuracy the adapters lose.",
        f"accuracy lost to adapters under the sweep's recipe, hardest task first: {text}", verdict,
        "the sweep's recipes, chosen on ACL-ARC's dev and carried to the others (one recipe on all three tasks); a "
        "task's gap is larger when its interval lies wholly above the next one's",
        "claims-adapters", nums["acl_sup"], why,
        (", ".join(f"{NAMES[d]} {_gap_text(course.loc[d], 'accuracy')}" for d in order
                   if d in course.index)) if course is not None else "",
        headline="accuracy lost to adapters: " + ", ".join(f"{NAMES[d]} {n['mean']:+.1f}" for d, n in nums.items()
                                                           if n["n"]) + " points, the sweep's recipe")


def loss_gap(gap, course=None, later: str = "") -> F.Finding:
    """The adapters' final training loss against full fine-tuning's, per task on its own best configuration (``gap``
    from ``evidence.refined_frame``; ``later`` names dev's later choices in it): about 0.1 higher on each?"""
    parts, texts, hows = [], [], []
    for d in reversed(ORDER):
        if d not in gap.index:
            parts.append("not shown")
            continue
        v, how = F.judge_value(LOSS_GAP_CLAIM, F.paired_of(gap.loc[d], "final_train_loss"), "loss")
        parts.append(v)
        hows += [f"{NAMES[d]}: {how}"] if how else []
        texts.append(f"{NAMES[d]} {_gap_text(gap.loc[d], 'final_train_loss', 3)}")
    recipe = "dev's later choices" if later else "the sweep's recipe"
    return F.Finding(
        "loss_gap", "Task 3", "adapters' training loss about 0.1 higher",
        "The adapters' final training loss is about 0.1 higher than full fine-tuning's.",
        "adapters minus full fine-tuning, final training loss: " + "; ".join(texts), F.combine(parts),
        "the recipes chosen on dev" + (f", with {recipe} for {later}" if later else "")
        + ", paired by seed; it holds on a task when 0.1 lies in the interval and the "
        f"interval is within ±{F.TOLERANCE['loss']:g}", "claims-adapters",
        F.gap_number(gap.loc["acl_sup"], "final_train_loss", "loss") if "acl_sup" in gap.index else F.number(),
        "; ".join(hows),
        ("; ".join(f"{NAMES[d]} {_gap_text(course.loc[d], 'final_train_loss', 3)}"
                   for d in reversed(ORDER) if d in course.index)) if course is not None else "",
        headline="adapters' training loss minus full fine-tuning's: "
        + ", ".join(f"{NAMES[d]} {gap.loc[d, 'final_train_loss_gap']:+.3f}" for d in reversed(ORDER) if d in gap.index)
        + f", {recipe}")
