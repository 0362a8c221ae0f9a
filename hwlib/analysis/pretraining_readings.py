"""What the pretrainings did, from their records (``results/pretrain/``): the held-out MLM loss on every task's dev
text before and after (tables, curves), what each read and cost, and whether a checkpoint made again is the same.
The fine-tuned arms' readings are ``hwlib.analysis.domain_readings``."""
from __future__ import annotations

import math

import pandas as pd

from hwlib.data.tasks import title
from hwlib.machine.provenance import device_words


def losses_by_domain(record) -> dict:
    """A pretraining's held-out MLM loss before and after, by task: its own dev text first, then the others'."""
    return {record["config"]["dataset"]: record["heldout_mlm_loss"]} | record.get("heldout_other_domains", {})


def timed(record) -> tuple[float, str]:
    """What a pretraining took, in minutes, and over which epochs, in words (empty when all of them): the process's
    wall time; for one resumed from a checkpoint, the epochs timed (``epoch_s`` in its log) summed over its
    processes, which leaves out epochs run before the library timed each epoch."""
    t, epochs = record["timing"], record["config"]["epochs"]
    if not t.get("resumed"):
        return t["wall_s"] / 60, ""
    k = t.get("epochs_timed", 0)
    if k >= epochs:
        return t["epochs_s"] / 60, "over more than one process: it resumed from a checkpoint"
    if k == 0:
        return float("nan"), "untimed: it resumed from a checkpoint made before epochs were timed"
    return t["epochs_s"] / 60, (f"that is its last {k} epoch{'s' * (k != 1)}: it resumed from a checkpoint, and "
                                f"the {epochs - k} before went untimed")


def heldout_table(records) -> pd.DataFrame:
    """One row per pretraining: the text it read (texts, tokens, epochs), what it cost, and the held-out MLM loss
    (fixed masking) on the dev text of its own domain and of the others, before and after."""
    rows = []
    for r in records:
        c = r["config"]
        row = {"encoder": r["name"], "pretrained on": c["dataset"], "texts": r["data"]["train_texts"],
               "tokens": r["data"].get("train_tokens"), "epochs": c["epochs"],
               "train_min": timed(r)[0], "device": device_words(r["provenance"]["device"])}
        for d, v in losses_by_domain(r).items():
            row |= {f"{title(d)} before": v["before"], f"{title(d)} after": v["after"]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("encoder") if rows else pd.DataFrame()


def loss_on(records, dataset: str) -> pd.DataFrame:
    """The held-out MLM loss on ``dataset``'s dev text before and after each pretraining (whatever text it read)."""
    rows = []
    for r in records:
        v = losses_by_domain(r).get(dataset)
        if v is not None:
            rows.append({"encoder": r["name"], "pretrained on": r["config"]["dataset"], "before": v["before"],
                         "after": v["after"], "change": v["after"] - v["before"]})
    return pd.DataFrame(rows).set_index("encoder") if rows else pd.DataFrame()


def plot_heldout_curves(records, ax=None, names: dict | None = None):
    """The held-out MLM loss on each pretraining's own dev text after every epoch (epoch 0: before); ``names`` maps
    a pretraining's name to its legend label (else the name), each label saying whose dev text was read."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.4, 3.2))
    for r in records:
        curve = r["heldout_curve"]
        ax.plot([p["epoch"] for p in curve], [p["loss"] for p in curve], marker="o", ms=3,
                label=f"{(names or {}).get(r['name'], r['name'])} (on {title(r['config']['dataset'])} dev text)")
    ax.set(xlabel="epoch of pretraining", ylabel="held-out MLM loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return ax


def describe_pretraining(records) -> str:
    """Markdown: per pretraining, the held-out MLM loss on its own dev text before and after, and the epoch where it
    was lowest: at the budget's last epoch the loss was still falling, so more epochs would probably lower it more."""
    lines = []
    for r in records:
        curve = r["heldout_curve"]
        best = min(curve, key=lambda p: p["loss"])
        last = curve[-1]["epoch"]
        trend = ("still falling at the last epoch: the budget, not the loss, stopped it" if best["epoch"] == last
                 else f"lowest after epoch {best['epoch']} of {last}")
        minutes, over = timed(r)
        lines.append(f"- `{r['name']}` ({r['data']['train_texts']:,} texts of {title(r['config']['dataset'])}, "
                     f"{r['config']['epochs']} epochs, {'' if math.isnan(minutes) else f'{minutes:.0f} min '}on "
                     f"{device_words(r['provenance']['device'])}{'; ' + over if over else ''}): "
                     f"held-out MLM loss {curve[0]['loss']:.2f} -> {curve[-1]['loss']:.2f}, "
                     f"{trend}."
                     + "".join(f" {_remake(r, again)}" for again in r.get("remade", [])))
    return "\n".join(lines) if lines else "No pretraining is stored yet."


# A re-made checkpoint whose held-out MLM loss is this close to the first make's is the same pretraining: the
# re-makes seen on other CPUs moved it by 1e-7 to 1e-6.
ROUNDING = 1e-3


def _remake(record: dict, again: dict) -> str:
    """A sentence on one re-make of ``record``'s checkpoint: the same bytes, or how far its held-out loss moved."""
    when = f"Made again on {again['date'][:10]} ({again['wall_s'] / 60:.0f} min, {device_words(again['device'])})"
    if again["same_checkpoint"]:
        return f"{when}: the same checkpoint, byte for byte (sha256)."
    first, later = record["heldout_mlm_loss"]["after"], again["heldout_mlm_loss"]["after"]
    moved = abs(later - first)
    if moved < ROUNDING:
        return (f"{when} for later seeds: held-out MLM loss {moved:.1e} from the first make's, the same pretraining "
                f"up to fp32 rounding on another CPU, not a second draw of it.")
    return (f"{when} for later seeds: held-out MLM loss {later:.3f} against the first make's {first:.3f}, a gap "
            f"larger than fp32 rounding explains: the later seeds fine-tuned a different checkpoint.")


def with_remakes(records) -> list[dict]:
    """The pretraining records and, for ``costs.cost``, one entry per re-make of a checkpoint (its own time); a
    resumed pretraining counts the minutes ``timed`` gives it."""
    def own(r):  # a resumed pretraining counts its timed epochs (``timed``)
        minutes = timed(r)[0]
        return r | {"timing": {"wall_s": 0.0 if math.isnan(minutes) else 60 * minutes}}

    remakes = [{"key": f"{r['key']}@{a['date']}", "provenance": {"device": a["device"]},
                "timing": {"wall_s": a["wall_s"]}} for r in records for a in r.get("remade", [])]
    return [own(r) for r in records] + remakes
