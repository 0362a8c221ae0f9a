"""The domain-pretraining experiment's readings: each arm's effect paired by seed with the book's one interval rule
(``effects``), the number of pretraining epochs chosen on dev (``epochs_on_dev``), the verdict on the report's
SciBERT claim (``assess``, ``verdict``), the effect across tasks, and the figures. The experiment itself (arms,
settings, collecting the runs) is ``hwlib.analysis.domain``; what the pretrainings did is
``hwlib.analysis.pretraining_readings``."""
from __future__ import annotations

import textwrap

import pandas as pd

from hwlib.analysis.intervals import fmt, fmt_row, seed_list, seeds_text
from hwlib.analysis.paired import paired_difference
from hwlib.analysis.paired_changes import scores
from hwlib.analysis.power import how_far
from hwlib.analysis.pretraining_readings import losses_by_domain, loss_on
from hwlib.data.tasks import title
from hwlib.models.tapt import PretrainConfig, parse


def effects(frame: pd.DataFrame, arms: dict, base: str, control: str | None = None,
            col: str = "macro_f1", also=(), *, tapt: str) -> pd.DataFrame:
    """Each arm minus ``base``; when ``control`` is given, the TAPT arm ``tapt`` minus the control (its matched pair:
    other arms against it go in ``also``); then the ``(arm, minus)`` pairs in ``also``; paired by seed, with a 95 %
    Student-t interval. ``frame`` is ``report.runs_frame`` of all arms' runs, ``arms`` label -> model."""
    if tapt not in arms:
        raise ValueError(f"the TAPT arm {tapt!r} is not one of the arms {list(arms)}")
    by = {label: frame[frame.model == model] for label, model in arms.items()}
    pairs = [(label, base) for label in arms if label != base]
    if control is not None:
        pairs += [(tapt, control)] if tapt not in (base, control) else []
    pairs += [tuple(p) for p in also if tuple(p) not in pairs]
    rows = [{"arm": a, "minus": b, **paired_difference(by[a], by[b], col)} for a, b in pairs
            if set(by[a].seed) & set(by[b].seed)]
    return pd.DataFrame(rows)


def epochs_on_dev(records, arms: dict, candidates, tapt: str | None = None) -> tuple[pd.DataFrame, str]:
    """How long to pretrain, chosen on the classifier's dev score: per candidate (arm labels that differ only in
    their pretraining epochs), over the seeds all candidates have, the mean dev macro-F1 (what chooses), the change
    from the first candidate paired by seed (the book's rule), and the mean test macro-F1 (shown, never used to
    choose), one row per number of epochs. Returns the table and a Markdown sentence naming dev's choice, and saying
    so where it is not the experiment's ``tapt`` arm."""
    if len(candidates) < 2:
        raise ValueError(f"choosing the pretraining epochs needs two candidates or more; got {list(candidates)}")
    frames = {label: scores([r for r in records if r["config"]["model"] == arms[label]]) for label in candidates}
    common = sorted(set.intersection(*(set(f.seed) for f in frames.values())))
    if not common:
        return pd.DataFrame(), "No seed has every candidate stored yet: the choice waits for their runs."
    first = candidates[0]
    base = frames[first][frames[first].seed.isin(common)]
    labels = {parse(arms[label]).epochs: label for label in candidates}
    rows = []
    for epochs, label in labels.items():
        f = frames[label][frames[label].seed.isin(common)]
        d = paired_difference(f, base, "dev_macro_f1") if label != first else None
        rows.append({"pretraining epochs": epochs, "seeds": len(f), "dev macro-F1": f.dev_macro_f1.mean(),
                     "dev change": fmt(d["mean"], d["low"], d["high"]) if d else "—",
                     "test macro-F1 (not used)": f.macro_f1.mean()})
    table = pd.DataFrame(rows).set_index("pretraining epochs").round(1)
    best, tried = dev_choice(table, arms, candidates), sorted(table.index)
    chosen = parse(arms[best]).epochs
    listed = ", ".join(f"{e} epochs {v:.1f}" for e, v in table["dev macro-F1"].sort_values(ascending=False).items())
    side = "smallest" if chosen == tried[0] else "largest" if chosen == tried[-1] else None
    text = (f"Mean dev macro-F1 over {seed_list(common)}: {listed}. Dev chooses **{chosen} epochs** "
            f"(`{arms[best]}`)." + (f" It is the {side} number tried ({', '.join(map(str, tried))}): the bracket is "
                                    f"open on that side." if side else ""))
    if tapt is not None and best != tapt:
        text += (f" The experiment's TAPT arm is **{tapt}**, not dev's choice: the effects below answer for that arm, "
                 f"and `tapt=\"{best}\"` makes them answer for the choice.")
    default = PretrainConfig(model=parse(arms[best]).model, dataset=parse(arms[best]).dataset)
    if default.epochs not in tried:
        text += (f" The library's default, {default.epochs} epochs, is untried here: `python -m hwlib pretrain "
                 f"--model {default.name()}` makes it, and named among the candidates (`epochs` in "
                 "`hwlib.analysis.domain.EXPERIMENTS`) it joins this choice.")
    return table, text


def dev_choice(table: pd.DataFrame, arms: dict, candidates) -> str | None:
    """The label of the candidate that ``epochs_on_dev``'s ``table`` chooses (highest mean dev macro-F1), or ``None``
    where the table is empty (no seed has every candidate)."""
    if table.empty:
        return None
    chosen = int(table["dev macro-F1"].idxmax())
    return next(label for label in candidates if parse(arms[label]).epochs == chosen)


def _interval(mean: float, low: float, high: float, pairs) -> str:
    """``+m (+l to +h)`` (``hwlib.analysis.intervals.fmt``), the interval left out where it would rest on one seed."""
    return fmt(mean, low, high) if pairs > 1 else fmt(mean)


def effects_view(effects_table: pd.DataFrame) -> pd.DataFrame:
    """``effects`` for the page: one row per comparison, named in full (``A minus B``), rounded."""
    if effects_table.empty:
        return effects_table
    named = effects_table.assign(comparison=effects_table.arm + " minus " + effects_table.minus)
    return named.drop(columns=["arm", "minus"]).set_index("comparison").round(2)


def assess(effects_table: pd.DataFrame, tapt: str, base: str, control: str | None = None,
           task: str = "ACL-ARC") -> dict:
    """What the paired effects (``effects``) show: ``helps`` (TAPT minus base: an interval above 0, over more than one
    seed), ``domain`` (TAPT minus the control above 0; ``None`` without a control arm), and ``claim``, in words: on
    ACL-ARC the verdict on the report's reading of its SciBERT result, elsewhere what the effect says about ``task``.
    ``None`` if no seed has both TAPT and base stored."""
    t = effects_table.set_index(["arm", "minus"]) if not effects_table.empty else effects_table
    if (tapt, base) not in t.index:
        return None
    e = t.loc[(tapt, base)]
    helps = bool(e["pairs"] > 1 and e["low"] > 0)
    domain = None
    if control is not None and (tapt, control) in t.index:
        d = t.loc[(tapt, control)]
        domain = bool(d["pairs"] > 1 and d["low"] > 0)
    if helps and domain:
        claim = (f"supported here: pretraining on text of the task's domain improves {task}, and more than the same "
                 "amount of out-of-domain pretraining does")
    elif helps and domain is None:
        claim = "supported in part: the gain is measured, but without the control it may be more pretraining, not the domain"
    elif helps:
        claim = "not attributable to the domain here: TAPT helps, but the out-of-domain control is not shown to help less"
    elif domain:
        claim = (f"holds against the control: on {task} pretraining on the task's own text beats as much "
                 "pretraining on another domain's, so the domain of the text matters; a gain over the encoder as it "
                 "ships is not shown, so part of that difference may be the other domain's pretraining doing harm")
    else:
        claim = (f"not shown by these seeds: the interval of TAPT's effect on {task} contains zero, so more seeds (or "
                 "more pretraining) are needed to tell")
    return {"helps": helps, "domain": domain, "claim": claim, "effect": e,
            "control_effect": t.loc[(control, base)] if control is not None and (control, base) in t.index else None,
            "over_control": t.loc[(tapt, control)] if domain is not None else None}


def verdict(effects_table: pd.DataFrame, tapt: str, base: str, control: str | None = None, target: float = 3.0,
            task: str = "acl_sup") -> str:
    """Markdown: what the paired effects say about domain pretraining on ``task`` (``assess``), and on ACL-ARC about
    the report's claim that SciBERT's scientific pretraining is what puts it ahead there. An interval that contains 0
    does not tell the arms apart; only a gain over the control is credited to the domain."""
    a = assess(effects_table, tapt, base, control, task=title(task))
    if a is None:
        return "Not measured yet: no seed has both the TAPT arm and the base model stored."
    e = a["effect"]
    lines = [f"- **{tapt}** minus **{base}**, macro-F1 points: {fmt_row(e)} (95 % interval)."]
    if a["helps"]:
        met = e["mean"] >= target
        lines.append(f"  The gain is above zero, {'and meets' if met else 'but below'} the target of +{target:g}.")
    else:
        lines.append(("  One seed gives no interval: it cannot show a gain. " if e["pairs"] < 2 else
                      "  The interval contains zero: these seeds do not show a gain. ") + how_far(e, target))
    if a["control_effect"] is not None:
        lines.append(f"- **{control}** minus **{base}**: {fmt_row(a['control_effect'])}.")
    if a["over_control"] is not None:
        lines.append(f"- **{tapt}** minus **{control}**: {fmt_row(a['over_control'])}: "
                     + ("the task's own text beats as much pretraining on another domain, so the domain matters."
                        if a["domain"] else "the seeds do not tell the task's own text from the other domain's. "
                        + how_far(a["over_control"], target)))
    said = {(tapt, base), (control, base), (tapt, control)}
    for _, row in effects_table.iterrows():
        if (row["arm"], row["minus"]) not in said:
            shown = row["pairs"] > 1 and (row["low"] > 0 or row["high"] < 0)
            lines.append(f"- **{row['arm']}** minus **{row['minus']}**: {fmt_row(row)}"
                         + (": different from zero." if shown else ": the interval contains zero."))
    if task == "acl_sup":
        lines.append(f"- The report's reading of its SciBERT result (scientific pretraining is why SciBERT leads on "
                     f"ACL-ARC), tested as the same effect in MiniLM: **{a['claim']}**. This measures task-adaptive "
                     "pretraining of a small model on a few thousand sentences, not SciBERT itself.")
    else:
        lines.append(f"- Domain pretraining on {title(task)}: **{a['claim']}**.")
    return "\n".join(lines)


def _reading(a: dict | None) -> str:
    """``assess``'s answer in a few words, for a table."""
    if a is None:
        return "not measured"
    if a["effect"]["pairs"] < 2:
        return "one seed, no interval"
    if not a["helps"]:
        return "ahead of the control only" if a["domain"] else "no gain shown"
    return {True: "gain, credited to the domain", False: "gain, not credited to the domain",
            None: "gain (no control)"}[a["domain"]]


def across_tasks(per_task: dict, base: str, records) -> pd.DataFrame:
    """One row per task: the paired TAPT effects (``effects``) and the held-out MLM loss on the task's dev text before
    and after its TAPT pretraining. ``per_task`` maps a task to its experiment (``arms``, ``tapt``, ``control``) with
    its ``effects`` table; ``records`` are the pretraining records (``pretrain_records``)."""
    nan = float("nan")
    by_name = {r["name"]: r for r in records}
    rows = []
    for task, spec in per_task.items():
        a = assess(spec["effects"], spec["tapt"], base, spec["control"], task=task)
        row = {"task": task, "TAPT arm": spec["tapt"], "seeds": int(a["effect"]["pairs"]) if a else 0}
        for key, label in (("effect", "TAPT - base"), ("over_control", "TAPT - control")):
            e = a[key] if a is not None and a[key] is not None else {"mean": nan, "low": nan, "high": nan}
            row |= {label: e["mean"], f"{label} low": e["low"], f"{label} high": e["high"]}
        pretrained = by_name.get(spec["arms"][spec["tapt"]])
        loss = losses_by_domain(pretrained).get(task) if pretrained else None
        row |= {"MLM loss before": loss["before"] if loss else nan, "MLM loss after": loss["after"] if loss else nan,
                "reading": _reading(a)}
        rows.append(row)
    return pd.DataFrame(rows).set_index("task") if rows else pd.DataFrame()


def describe_across_tasks(table: pd.DataFrame) -> str:
    """Markdown: one line per task of ``across_tasks``: TAPT's effect and, where there is a control, its effect over
    the control, each with its interval, and the reading."""
    def span(row, label):
        if pd.isna(row[label]):
            return None
        return _interval(row[label], row[f"{label} low"], row[f"{label} high"], row["seeds"])

    lines = []
    for task, row in table.iterrows():
        if row["reading"] == "not measured":
            lines.append(f"- {title(task)}: not measured yet (no seed has both arms stored).")
            continue
        over = span(row, "TAPT - control")
        lines.append(f"- {title(task)} ({seeds_text(row['seeds'])}): TAPT minus MiniLM {span(row, 'TAPT - base')} macro-F1"
                     + (f", minus the control {over}" if over else "") + f": **{row['reading']}**.")
    return "\n".join(lines)


def plot_across_tasks(table: pd.DataFrame, ax=None):
    """``across_tasks``'s effects as points with their 95 % intervals, one row per task: TAPT minus MiniLM, and TAPT
    minus the control where the task has one; the line at 0 is "no effect"."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.4, 2.8))
    for i, (label, dy) in enumerate((("TAPT - base", -0.12), ("TAPT - control", 0.12))):
        t = table.dropna(subset=[label])
        y = [list(table.index).index(task) + dy for task in t.index]
        ax.errorbar(t[label], y, xerr=[t[label] - t[label + " low"], t[label + " high"] - t[label]], fmt="o",
                    color=f"C{i}", capsize=3, label=label.replace("base", "MiniLM"))
    ax.axvline(0, color="gray", lw=1)
    ax.set_yticks(range(len(table)), [f"{t} ({seeds_text(n)})" for t, n in table.seeds.items()], fontsize=9)
    ax.invert_yaxis()
    ax.set(xlabel="test macro-F1 difference, paired by seed (points, 95 % interval)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=9)
    return ax


def plot_paired(frame: pd.DataFrame, arms: dict, col: str = "macro_f1", ax=None, floor: float | None = None):
    """One line per seed across the arms (the same seed: the same data order and head), each seed with a marker and
    a line style of its own; the arms' means as black bars; the axis zoomed to the data."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.4, 3.4))
    labels = [a for a, m in arms.items() if (frame.model == m).any()]
    table = pd.DataFrame({a: frame[frame.model == arms[a]].set_index("seed")[col] for a in labels})
    markers, styles = "os^vDPX*<>ph", ("-", "--", ":", "-.")
    for k, (seed, row) in enumerate(table.iterrows()):
        ax.plot(range(len(labels)), row.values, marker=markers[k % len(markers)], ls=styles[k % len(styles)],
                color=f"C{k % 10}", lw=1, ms=5, label=f"seed {seed}")
    ax.hlines(table.mean(), [i - 0.3 for i in range(len(labels))], [i + 0.3 for i in range(len(labels))],
              colors="k", lw=3, label="mean of the arm")
    if floor is not None and floor > table.min().min() - 5:
        ax.axhline(floor, color="gray", ls="--", lw=1, label="majority floor")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, ncol=1)  # beside the plot, off the data
    ax.set_xticks(range(len(labels)), [textwrap.fill(a.removeprefix("+ "), 10) for a in labels], fontsize=9)
    ax.set(ylabel=f"test {col.replace('macro_f1', 'macro-F1').replace('_', '-')} (%)")
    ax.grid(alpha=0.3, axis="y")
    return ax


def show_task(done: dict, base: str) -> list:
    """What the chapter shows of one further task (``domain.collect_task``'s result): a heading with where its
    settings come from and what is stored, the runs still missing, the held-out losses, the arms' scores and the
    verdict; a list of Markdown and tables, for ``display(*...)``."""
    from IPython.display import Markdown

    from hwlib.analysis.report import summary
    from hwlib.runs.grids import missing_note

    task, spec, runs = done["task"], done["spec"], done["runs"]
    have, pre = len(done["records"]), done["pre"]
    stored = (f" {have} of {have + len(done['missing'])} runs stored, {len(pre)} of "
              f"{len(pre) + len(done['pre_missing'])} encoders pretrained." if done["missing"] or done["pre_missing"]
              else "")
    out = [Markdown(f"### {title(task)}\n\nFine-tuning: {done['source']}.{stored}")]
    out += [Markdown(missing_note(done["missing"]))] if done["missing"] else []
    out += [Markdown(f"Not pretrained yet: `{name}` (`python -m hwlib pretrain --model {name}`).")
            for name in done["pre_missing"]]
    if pre:
        out.append(loss_on(pre, task))
    if not runs.empty:
        out += [summary(runs, by=("arm",), cols=["accuracy", "macro_f1"]),
                Markdown(verdict(done["effects"], spec["tapt"], base, spec["control"], task=task))]
    return out
