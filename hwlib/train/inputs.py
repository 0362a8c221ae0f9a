"""A run's inputs: its splits (dev too when it chooses its epoch there; seeded samples when asked for) and their
tokenization, as the Trainer reads them."""
from __future__ import annotations

from hwlib.data import get_dataset
from hwlib.train.config import RunConfig


def load_splits(config: RunConfig, sep_token: str):
    """The run's splits: train and test, dev too when the run selects on dev; ``max_train_samples`` draws a seeded
    sample of train, ``stratified_train_samples`` a seeded sample that keeps its class shares (a larger task cut to a
    smaller one's size), ``max_eval_samples`` a fixed sample of dev and test."""
    dd = get_dataset(config.dataset, sep_token=sep_token, split_dev=config.select_on_dev)
    if config.max_train_samples is not None and config.max_train_samples < len(dd["train"]):
        dd["train"] = dd["train"].shuffle(seed=config.seed).select(range(config.max_train_samples))
    n = config.stratified_train_samples
    if n is not None:
        if n >= len(dd["train"]):
            raise ValueError(f"stratified_train_samples={n} is not below the {len(dd['train'])} training examples "
                             f"of {config.dataset}: a stratified sample must be smaller than the split")
        dd["train"] = dd["train"].train_test_split(train_size=n, stratify_by_column="label",
                                                   seed=config.seed)["train"]
    for split in ("dev", "test"):
        if split in dd and config.max_eval_samples is not None and config.max_eval_samples < len(dd[split]):
            dd[split] = dd[split].shuffle(seed=0).select(range(config.max_eval_samples))
    return dd


def tokenize(config: RunConfig, tokenizer, dd):
    """The splits as the Trainer reads them: token ids (cut at ``max_length``) and each example's ``length``."""
    tok = dd.map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length),
                 batched=True, remove_columns=["text"])
    return tok.map(lambda b: {"length": [len(x) for x in b["input_ids"]]}, batched=True)
