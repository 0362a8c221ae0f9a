"""``RunConfig``: the one list of a run's settings, and everything derived from it.

Each field is declared with ``setting(default, help, ...)``: its help text, what values it accepts and, for the four
fields a grid varies (model, dataset, method, seed), the plural flag of ``python -m hwlib grid``. From these fields,
and nothing else, come

* the checks of ``RunConfig`` itself and of the notebooks' parameters (``check_parameters``),
* the command-line flags of ``python -m hwlib train`` and ``grid`` (``add_flags``), and
* the flags that reproduce a configuration in a printed command (``flags``).

So adding a field to ``RunConfig`` is the whole change needed to expose a new setting everywhere (the same idea as
``HfArgumentParser`` and the dataclasses of Hugging Face's ``run_glue.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field

from hwlib.data import DATASET_NAMES, parse_names

METHODS = ("full", "adapter", "lora", "probe")
# how the book names each method in prose, tables and figures
METHOD_TITLES = {"full": "full fine-tuning", "adapter": "adapters", "lora": "LoRA", "probe": "linear probe"}
TRAINER_DEFAULT_LR = 5e-5  # what RunConfig.learning_rate=None means (a test checks it against TrainingArguments)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
POOLINGS = ("cls", "mean")
TRAINED = ("full", "adapter", "lora")  # the methods that train the encoder's network with the Trainer


def setting(default, help: str, *, valid=None, accepts: str = "", choices=None, axis: str | None = None,
            only: tuple[str, ...] | None = None):
    """A ``RunConfig`` field: ``valid(value) -> bool`` checks a value, ``accepts`` says in words what passes,
    ``choices`` lists the accepted values, ``axis`` names the plural flag a grid varies it with, and ``only`` the
    methods it applies to (for the others it is reset to its default, so that one run has one key)."""
    if choices is not None:
        valid, accepts = (lambda v: v in choices), f"one of {tuple(choices)}"
    if valid is None and isinstance(default, bool):
        valid, accepts = (lambda v: isinstance(v, bool)), "True or False"
    return field(default=default, metadata={"help": help, "valid": valid, "accepts": accepts, "choices": choices,
                                            "axis": axis, "only": only})


def _integer(low):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _optional(check):
    return lambda v: v is None or check(v)


def _rate(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1


def _lora_targets(v) -> bool:
    from hwlib.models.lora import parse_targets

    try:
        return isinstance(v, str) and bool(parse_targets(v))
    except ValueError:
        return False


def _names(v) -> bool:
    try:
        parse_names(v)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class RunConfig:
    """One fine-tuning run. The defaults are the course's settings (batch size 16, 3 epochs, the rest at the
    ``Trainer``'s defaults), so a stored run's key names only what differs from them.

    A setting that does not apply to the run's method (``adapter_size`` for full fine-tuning, the optimizer's settings
    for the probe) is reset to its default, so that the same run always has the same key in the store.
    """

    model: str = setting("minilm", "minilm (the embedded all-MiniLM-L6-v2), minilm-scratch (its architecture, random "
                         "weights), bert, roberta, scibert (need the Hugging Face hub), a hub id or a directory",
                         valid=lambda v: isinstance(v, str) and bool(v), accepts="a non-empty model name",
                         axis="models")
    dataset: str = setting("acl_sup", f"a task of hwlib.data: one of {', '.join(DATASET_NAMES)}, or several joined "
                           "by ','", valid=_names, accepts=f"one of {DATASET_NAMES}, or several joined by ','",
                           axis="datasets")
    method: str = setting("full", "full: every weight trains; adapter: two bottleneck adapters per layer and the "
                          "classification head train, the rest is frozen; lora: low-rank updates of the --lora-targets "
                          "(peft) and the head train; probe: the frozen encoder's mean-pooled embeddings and a "
                          "logistic regression (no fine-tuning)", choices=METHODS, axis="methods")
    adapter_size: int = setting(64, "bottleneck size m of each adapter (method adapter only)", valid=_integer(1),
                                accepts="an integer >= 1", only=("adapter",))
    seed: int = setting(1, "seed of the new weights and of the data order", valid=_integer(0),
                        accepts="an integer >= 0", axis="seeds")
    epochs: int = setting(3, "training epochs (the most, with --patience)", valid=_integer(1),
                          accepts="an integer >= 1", only=TRAINED)
    batch_size: int = setting(16, "examples per optimizer step (split over data-parallel processes)",
                              valid=_integer(1), accepts="an integer >= 1", only=TRAINED)
    learning_rate: float | None = setting(None, "peak learning rate (None: the Trainer's default, 5e-5)",
                                          valid=_optional(_rate), accepts="None or a number between 0 and 1",
                                          only=TRAINED)
    max_length: int = setting(256, "tokens kept per example (longer texts are truncated)", valid=_integer(8),
                              accepts="an integer >= 8")
    max_train_samples: int | None = setting(None, "train on a seeded sample of this many examples (smoke runs)",
                                            valid=_optional(_integer(1)), accepts="None or an integer >= 1")
    stratified_train_samples: int | None = setting(
        None, "train on a stratified sample of this many training examples (the class shares kept), drawn anew "
        "with each seed: a larger task cut to a smaller one's size", valid=_optional(_integer(2)),
        accepts="None or an integer >= 2")
    max_eval_samples: int | None = setting(None, "evaluate on a fixed sample of this many test examples",
                                           valid=_optional(_integer(1)), accepts="None or an integer >= 1")
    train_layernorm: bool = setting(False, "adapters only: the encoder's LayerNorms train too (as Houlsby et al.)",
                                    only=("adapter",))
    precision: str = setting("auto", "auto: bf16 (or fp16) autocast on a GPU; on a CPU, bf16 autocast where the CPU "
                             "has native bf16 and a timed bf16 matmul is >= 1.3x fp32's "
                             "(hwlib.machine.precision), else fp32; "
                             "$HWLIB_AUTO_PRECISION=bf16|fp32 forces auto's decision on any machine",
                             choices=PRECISIONS,
                             only=TRAINED)
    group_by_length: bool = setting(True, "draw batches of similar lengths (bench/README.md: much faster on a CPU); "
                                    "--no-group-by-length draws random batches", only=TRAINED)
    pooling: str = setting("cls", "what the classifier reads: cls, BERT's [CLS] pooler (the course's models); mean, "
                           "the mean of the token vectors (what all-MiniLM-L6-v2 was trained for)", choices=POOLINGS,
                           only=TRAINED)
    warmup_ratio: float = setting(0.0, "fraction of the training steps over which the learning rate rises linearly "
                                  "from 0 (then it decays linearly to 0, as by default)", valid=_fraction,
                                  accepts="a number in [0, 1)", only=TRAINED)
    weight_decay: float = setting(0.0, "AdamW's decoupled weight decay (the Trainer's default: 0)", valid=_fraction,
                                  accepts="a number in [0, 1)", only=TRAINED)
    train_pooler: bool = setting(False, "adapters and LoRA: BERT's pooler (the dense + tanh layer under the "
                                 "classifier, part of the head) trains too", only=("adapter", "lora"))
    class_weighted: bool = setting(False, "weigh each class by the inverse of its training frequency (in the loss; "
                                   "probe: class_weight='balanced')")
    select_on_dev: bool = setting(False, "evaluate on the dev split after every epoch (probe: for each "
                                  "regularisation strength), keep the best by dev macro-F1, then read the test split "
                                  "once; the course instead evaluates on test")
    lora_rank: int = setting(8, "LoRA only: the rank r of each low-rank update (64 on query,value matches the "
                             "adapters' trainable count at m = 64 on MiniLM)", valid=_integer(1),
                             accepts="an integer >= 1", only=("lora",))
    lora_alpha: float = setting(16.0, "LoRA only: the update is scaled by alpha / r", valid=lambda v: isinstance(
                                v, (int, float)) and not isinstance(v, bool) and v > 0, accepts="a positive number",
                                only=("lora",))
    lora_dropout: float = setting(0.1, "LoRA only: dropout on the low-rank path's input", valid=_fraction,
                                  accepts="a number in [0, 1)", only=("lora",))
    lora_targets: str = setting("query,value", "LoRA only: the projections that get an update, joined by ',': query, "
                                "key, value, attention_output, intermediate, output", valid=_lora_targets,
                                accepts="names of hwlib.models.lora.TARGETS joined by ','", only=("lora",))
    patience: int | None = setting(None, "with --select-on-dev: stop after this many epochs without a better dev "
                                   "macro-F1 (None: train every epoch)", valid=_optional(_integer(1)),
                                   accepts="None or an integer >= 1", only=TRAINED)

    def __post_init__(self):
        problems = [problem(f.name, getattr(self, f.name), type(self)) for f in dataclasses.fields(self)]
        problems = [p for p in problems if p]
        if self.patience is not None and not self.select_on_dev:
            problems.append(f"patience={self.patience!r} (early stopping needs select_on_dev=True)")
        if problems:
            raise ValueError("invalid RunConfig: " + "; ".join(problems))
        for f in dataclasses.fields(self):  # settings that do not apply to this method: one run, one key
            if f.metadata.get("only") and self.method not in f.metadata["only"]:
                object.__setattr__(self, f.name, f.default)
        if self.pooling == "mean":  # mean pooling replaces the pooler: nothing of it is left to train
            object.__setattr__(self, "train_pooler", False)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict:
        """The settings that differ from the course's defaults (the grid's four axes aside)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not f.metadata.get("axis") and getattr(self, f.name) != f.default}

    def identity(self) -> dict:
        """What names the run in the store: model, dataset, method, seed and the non-default settings."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("axis")},
                **self.settings()}


def problem(name: str, value, cls=RunConfig) -> str | None:
    """``"name=value (what is accepted)"`` when ``value`` is not valid for field ``name``, else ``None``."""
    meta = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    return None if meta["valid"] is None or meta["valid"](value) else f"{name}={value!r} ({meta['accepts']})"


def check_parameters(cls=RunConfig, **params) -> None:
    """Refuse bad notebook parameters before anything loads, naming the parameter, its value and what is accepted.

    A parameter is checked as the field it is named after: a field's name (``epochs``), a grid axis for a list
    (``seeds``), or either one after a prefix (``adapter_learning_rate`` is a learning rate, ``batching_seeds`` a
    list of seeds).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    axes = {f.metadata["axis"]: f for f in fields.values() if f.metadata.get("axis")}
    for name, value in params.items():
        base = next((n for n in (*fields, *axes) if name == n or name.endswith("_" + n)), None)
        if base is None:
            raise TypeError(f"{name!r} is not a setting of {cls.__name__}: its fields are {list(fields)}")
        if base in axes:
            ok = isinstance(value, (list, tuple)) and value and all(problem(axes[base].name, v, cls) is None
                                                                   for v in value)
            if not ok:
                raise ValueError(f"{name}={value!r}: give a non-empty list, each {axes[base].metadata['accepts']}")
        elif (p := problem(base, value, cls)) is not None:
            raise ValueError(f"{name}={value!r}: must be {fields[base].metadata['accepts']}"
                             if name != base else p)


# ------------------------------------------------------------------------------------------------ the command line
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _value_type(hint):
    """``int`` for ``int | None``, and so on: what argparse converts a flag's text to."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_flags(parser: argparse.ArgumentParser, cls=RunConfig, grid: bool = False) -> None:
    """One flag per field of ``cls``, with the field's help text; ``grid=True`` gives the four axes their plural,
    many-valued flags (``--seeds 1 2 3``)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta, typ = f.metadata, _value_type(hints[f.name])
        kw = {"dest": f.name, "help": f"{meta['help']} (default: {f.default})"}
        if typ is bool:
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=f.default, **kw)
            continue
        kw |= {"type": typ, "default": f.default, "choices": meta["choices"]}
        if grid and meta.get("axis"):
            kw |= {"nargs": "+", "default": [f.default]}
            parser.add_argument(_flag(meta["axis"]), **kw)
        else:
            parser.add_argument(_flag(f.name), **kw)


def flags(config: RunConfig) -> list[str]:
    """The flags that reproduce ``config``'s non-default settings on the command line."""
    out = []
    for name, value in config.settings().items():
        if isinstance(value, bool):
            out.append(_flag(name) if value else "--no-" + _flag(name)[2:])
        else:
            out += [_flag(name), f"{value:g}" if isinstance(value, float) else str(value)]
    return out


def parse_value(name: str, text: str, cls=RunConfig):
    """A field's value from its text on the command line (``"1e-4"``, ``"mean"``, ``"true"``, ``"none"``), checked."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ValueError(f"{name!r} is not a setting of {cls.__name__}: its fields are {list(fields)}")
    typ = _value_type(typing.get_type_hints(cls)[name])
    low = text.strip().lower()
    try:
        if low == "none":
            value = None
        elif typ is bool:
            value = {"true": True, "false": False}[low]
        else:
            value = typ(text)
    except (KeyError, ValueError):
        raise ValueError(f"{name}={text!r}: must be {fields[name].metadata['accepts']}") from None
    if (p := problem(name, value, cls)) is not None:
        raise ValueError(p)
    return value


def learning_rate(config) -> float:
    """A run's learning rate (a config dict or ``RunConfig``), the Trainer's default where the config left it unset."""
    rate = config.get("learning_rate") if isinstance(config, dict) else config.learning_rate
    return rate if rate is not None else TRAINER_DEFAULT_LR
