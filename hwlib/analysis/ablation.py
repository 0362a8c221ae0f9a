"""Reading a sweep: one row per candidate run, the dev curves, and what each change of a recipe buys, one at a time
(the sweep's candidates set against the recipe dev chose).

A sweep crosses settings (``python -m hwlib sweep --vary ...``), so most pairs of its candidates differ in more than
one setting. ``one_change_table`` keeps the pairs that differ in exactly one, the chosen recipe against each
neighbour, so that each row reads as "this setting, changed from the chosen value to another, moved dev macro-F1 by
so much". Pooling and the adapters' pooler count as one change: with mean pooling BERT's pooler is not used, so
``train_pooler`` has no meaning there (``RunConfig`` resets it). ``budget_row`` adds the one change a sweep does not
cross: the course's three epochs, read on test after the last, against the sweep's budget (up to 10 epochs, early
stopping on dev, warm-up, weight decay) at the course's own pooling and learning rate.

Everything here reads stored records; the test scores are shown beside the dev scores but chose nothing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwlib.data.tasks import title
from hwlib.machine.provenance import device_words
from hwlib.train.config import METHOD_TITLES, TRAINER_DEFAULT_LR, RunConfig
from hwlib.analysis.intervals import seeds_text
from hwlib.analysis.report import learning_rate

HEAD = ("pooling", "train_pooler")  # one change: what the classifier reads, and whether that layer trains


def _label(settings: dict, key: str) -> str:
    if key == "head":
        pooling = settings.get("pooling", "cls")
        return "mean" if pooling == "mean" else "[CLS]" + (" + pooler trains" if settings.get("train_pooler") else "")
    value = settings.get(key, getattr(RunConfig(), key))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _differences(a: dict, b: dict) -> list[str]:
    keys = sorted((set(a) | set(b)) - set(HEAD))
    diff = [k for k in keys if a.get(k) != b.get(k)]
    if any(a.get(k) != b.get(k) for k in HEAD):
        diff.append("head")
    return diff


def _by_configuration(records) -> dict:
    """The records grouped by configuration, the seed aside: ``(dataset, method, settings as sorted pairs)`` ->
    the records of its seeds."""
    groups: dict = {}
    for r in records:
        c = RunConfig(**r["config"])
        groups.setdefault((c.dataset, c.method, tuple(sorted(c.settings().items()))), []).append(r)
    return groups


def one_change_table(sweep_records) -> pd.DataFrame:
    """Per dataset and method (seeds averaged per candidate): the candidate with the best mean dev macro-F1 (the
    recipe) against every candidate that differs from it in one setting; the change in dev and test macro-F1
    (points, candidate minus recipe), with the seeds each rests on. (Around a given centre, over seeds, with
    intervals: ``paired_changes``.)"""
    cands: dict = {}
    for (dataset, method, settings), recs in _by_configuration(sweep_records).items():
        cands.setdefault((dataset, method), []).append({
            "settings": dict(settings), "seeds": len(recs),
            "dev": 100 * sum(r["selection"]["dev_macro_f1"] for r in recs) / len(recs),
            "test": 100 * sum(r["metrics"]["macro_f1"] for r in recs) / len(recs)})
    rows = []
    for (dataset, method), cs in cands.items():
        best = max(cs, key=lambda c: c["dev"])
        for c in cs:
            diff = _differences(best["settings"], c["settings"])
            if len(diff) != 1:
                continue
            key = diff[0]
            rows.append({"dataset": dataset, "method": method, "setting": key,
                         "recipe": _label(best["settings"], key), "changed to": _label(c["settings"], key),
                         "dev change": c["dev"] - best["dev"],
                         "test change": c["test"] - best["test"], "seeds": min(c["seeds"], best["seeds"])})
    if not rows:
        return pd.DataFrame({"note": ["no two stored candidates differ in exactly one setting"]})
    return pd.DataFrame(rows).set_index(["dataset", "method", "setting"]).sort_index()


def budget_row(course_records, sweep_records) -> pd.DataFrame:
    """The training budget, one change: the course's runs (3 epochs, no warm-up or weight decay, the last epoch
    read on test) against the sweep's candidate at the course's pooling and learning rate, on the seeds both have;
    test macro-F1 only (the course's runs never saw the dev split)."""
    rows = []
    default = RunConfig()
    for course in course_records:
        cc = RunConfig(**course["config"])
        if cc.settings():
            continue  # only the course's own runs
        for r in sweep_records:
            c = RunConfig(**r["config"])
            same = (c.dataset, c.method, c.seed, c.pooling, learning_rate(c), c.train_pooler) == (
                cc.dataset, cc.method, cc.seed, default.pooling, TRAINER_DEFAULT_LR, default.train_pooler)
            if same:
                rows.append({"dataset": c.dataset, "method": c.method, "seed": c.seed,
                             "test macro-F1, course (3 epochs)": 100 * course["metrics"]["macro_f1"],
                             f"test macro-F1, budget ({c.epochs} epochs max, chose "
                             f"{r['selection']['chosen_epoch']:g})":
                                 100 * r["metrics"]["macro_f1"]})
    if not rows:
        return pd.DataFrame({"note": ["no sweep candidate at the course's pooling and learning rate is stored"]})
    return pd.DataFrame(rows).set_index(["dataset", "method", "seed"])


RECIPE_COLUMNS = ["model", "method", "dataset", "seed", "pooling", "learning_rate", "train_pooler", "epochs",
                  "chosen_epoch", "epochs_run", "dev_macro_f1", "accuracy", "macro_f1", "train_min", "device"]


def recipe_frame(records) -> pd.DataFrame:
    """One row per run with the settings a recipe varies, the test metrics (points), what was chosen on dev and
    what the run cost (minutes of training on its device)."""
    rows = []
    for r in records:
        c, sel = r["config"], r.get("selection", {})
        rows.append({
            "model": c["model"], "method": c["method"], "dataset": c["dataset"], "seed": c["seed"],
            "pooling": c.get("pooling", "cls"),
            "learning_rate": learning_rate(c),
            "train_pooler": c.get("train_pooler", False), "epochs": c["epochs"],
            "chosen_epoch": sel.get("chosen_epoch"), "epochs_run": sel.get("epochs_run", len(r["eval_history"])),
            "dev_macro_f1": 100 * sel["dev_macro_f1"] if "dev_macro_f1" in sel else np.nan,
            **{m: 100 * r["metrics"][m] for m in ("accuracy", "macro_f1")},
            "train_min": r["timing"]["train_runtime_s"] / 60, "device": device_words(r["provenance"]["device"]),
        })
    return pd.DataFrame(rows, columns=RECIPE_COLUMNS)


def plot_dev_curves(records, floor: float | None = None, title: str = ""):
    """Dev macro-F1 after every epoch, one line per run (runs that chose their epoch on dev), one panel per method
    so that no panel holds more than a handful of lines; the chosen epoch marked with a dot, the majority floor
    dotted. Lines are labelled by pooling and learning rate (and "LayerNorms" where those trained too); the panels
    share the y axis. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = [r for r in records if "selection" in r]
    methods = list(dict.fromkeys(r["config"]["method"] for r in runs)) or ["full"]
    fig, axes = plt.subplots(1, len(methods), figsize=(7.4, 4.8), sharey=True, squeeze=False, layout="constrained")
    for ax, method in zip(axes[0], methods):
        mine = [r for r in runs if r["config"]["method"] == method]
        order = sorted(mine, key=lambda r: (r["config"].get("pooling", "cls"), -learning_rate(r["config"])))
        for i, r in enumerate(order):
            c = r["config"]
            ep = [e["epoch"] for e in r["eval_history"]]
            f1 = [100 * e["macro_f1"] for e in r["eval_history"]]
            line, = ax.plot(ep, f1, marker=".", ms=3, color=f"C{i % 10}",
                            ls="-" if c.get("pooling", "cls") == "mean" else "--",
                            label=f"{c.get('pooling', 'cls')}, {learning_rate(c):g}"
                            + (", LayerNorms" if c.get("train_layernorm") else ""))
            ax.plot(r["selection"]["chosen_epoch"], 100 * r["selection"]["dev_macro_f1"], "o",
                    color=line.get_color())
        if floor is not None:
            ax.axhline(floor, color="gray", ls=":", lw=1, label="majority floor")
        ax.set(title=METHOD_TITLES.get(method, method), xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False,
                  title="pooling, learning rate", title_fontsize=9)  # below the epoch axis, off the curves
    axes[0][0].set_ylabel("dev macro-F1 (%)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def describe_recipes(tuned: pd.DataFrame, course: pd.DataFrame, probe: pd.DataFrame, floors: pd.DataFrame) -> str:
    """Markdown: per dataset and method, the tuned recipe's test macro-F1 over its seeds beside the course's recipe,
    the linear probe and the majority floor (``runs_frame`` tables, points)."""
    lines = []
    for (dataset, method), g in tuned.groupby(["dataset", "method"], sort=False):
        f1 = g.macro_f1
        spread = f" ± {f1.std(ddof=1):.1f}" if len(f1) > 1 else ""
        c = course[(course.dataset == dataset) & (course.method == method)].macro_f1
        p = probe[probe.dataset == dataset].macro_f1
        floor = floors.loc[dataset, "macro_f1"]
        parts = [f"course's recipe {c.mean():.1f} ({len(c)} seeds)" if len(c) else "no course run stored"]
        if len(p):
            parts.append(f"{'above' if f1.mean() > p.mean() else 'below'} the linear probe's {p.mean():.1f}")
        floor_note = (", every seed at the majority floor" if (abs(f1 - floor) < 0.05).all()
                      else f"; the floor is {floor:.1f}")
        lines.append(f"- {title(dataset)}, {METHOD_TITLES.get(method, method)}: tuned macro-F1 {f1.mean():.1f}{spread} over {seeds_text(len(f1))}, "
                     f"{'; '.join(parts)}{floor_note}.")
    return "\n".join(lines) if lines else "No run of a chosen recipe is stored yet."


def edge_choices(recipes, grids: dict) -> str:
    """Markdown: the chosen recipes (``experiments.choose_recipes``) whose value of a numeric swept setting is the
    largest or smallest one the grid tried: there the optimum is not bracketed, and a wider grid may do better."""
    default = RunConfig()
    lines = []
    for r in recipes:
        for key, values in grids.get(r["method"], {}).items():
            numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if len(numeric) < 2:
                continue
            chosen = r["settings"].get(key, getattr(default, key))
            side = "largest" if chosen == max(numeric) else "smallest" if chosen == min(numeric) else None
            if side:
                lines.append(f"- {METHOD_TITLES[r['method']]} on {title(r['dataset'])}: `{key}` = {chosen:g} is the "
                             f"{side} value the grid tried ({', '.join(f'{v:g}' for v in sorted(numeric))}), so the best value may lie "
                             "beyond it; a wider grid would tell.")
    if not lines:
        return "Every chosen value lies inside the range its grid tried."
    return "**Chosen at the edge of the grid:**\n\n" + "\n".join(lines)


def budget_limits(records) -> pd.DataFrame:
    """Per dataset and method, whether the budget or the data stopped the runs that chose their epoch on dev: how many
    seeds chose the last epoch of the whole budget (still improving on dev when it ran out), the mean chosen epoch
    and the mean final training loss. A method whose runs end at the budget's last epoch with a higher training loss
    is still learning when it stops: a gap it shows may shrink with more epochs or a larger step."""
    rows = []
    for r in records:
        sel = r.get("selection") or {}
        if "chosen_epoch" not in sel:
            continue
        c = r["config"]
        rows.append({"dataset": c["dataset"], "method": c["method"], "seed": c["seed"],
                     "at budget's end": sel["chosen_epoch"] == c["epochs"],
                     "chosen_epoch": sel["chosen_epoch"], "budget": c["epochs"],
                     "final_train_loss": r["final_train_loss"]})
    if not rows:
        return pd.DataFrame()
    g = pd.DataFrame(rows).groupby(["dataset", "method"], sort=False)
    return pd.DataFrame({"seeds": g.size(), "chose the budget's last epoch": g["at budget's end"].sum(),
                         "mean chosen epoch": g.chosen_epoch.mean(), "budget (epochs)": g.budget.max(),
                         "mean final training loss": g.final_train_loss.mean()})


def describe_scale(recipes, usual=(1e-4, 5e-4)) -> str:
    """Markdown: per LoRA recipe chosen on dev (``experiments.choose_recipes``' output), its learning rate set against
    the scale ``alpha / r`` of the update. Adam's steps are set by the learning rate, not by the size of the gradient,
    so the update ``(alpha / r) B A`` moves about in proportion to ``learning_rate * alpha / r``: the usual range for
    LoRA (``usual``, quoted for ``alpha / r`` of 1 to 2) is a range of that product, not of the learning rate alone."""
    lines = []
    for r in recipes:
        if r["method"] != "lora":
            continue
        c = RunConfig(method="lora", **r["settings"])
        scale = c.lora_alpha / c.lora_rank
        lines.append(f"- {title(r['dataset'])}: dev chose learning rate {c.learning_rate:g} at r = {c.lora_rank}, "
                     f"alpha = {c.lora_alpha:g}, so alpha / r = {scale:g}: the update moves as it would at a learning "
                     f"rate of {c.learning_rate * scale:.2g} with alpha = r (the usual range: {usual[0]:g} to "
                     f"{usual[1]:g}).")
    return "\n".join(lines) if lines else "No LoRA recipe is chosen yet."
