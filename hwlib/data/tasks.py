"""The course's Task 1 API: ``get_dataset(name, sep_token)`` on the real files.

Every task is read from one of four public releases (see ``SOURCES``). Files are found, in order, in

1. an explicit ``data_dir`` argument,
2. the directory named by ``HWLIB_DATA_DIR`` (the layout of ``shared/data``: ``acl_arc/train.jsonl`` ...),
3. the cache (``$HWLIB_CACHE_DIR/data``, default ``~/.cache/hwlib/data``) filled by downloading the original
   files (or the same layout from ``HWLIB_DATA_MIRROR``).

Wherever a file comes from, its md5 must be the one registered in ``SOURCES`` (local copies are byte copies of the
originals), so a truncated or edited copy cannot change a task under a stored run. Readers who want to experiment
with modified data opt out explicitly with ``HWLIB_ALLOW_MODIFIED_DATA=1`` (or ``allow_modified=True``): the files are
then used as they are, a warning names them, and ``fingerprint`` marks them as modified, so runs trained on them are
stored apart from the runs on the original data.

Task names (the course's):

* ``restaurant_sup``, ``laptop_sup``: SemEval-14 aspect-term polarity; ``text = term + sep_token + sentence``
  (the aspect term first, then the sentence).
* ``acl_sup``: ACL-ARC citation intent (6 labels), the release's train and test (``split_dev=True`` adds dev).
* ``agnews_sup``: AG News ``test.csv`` (title + " " + description) split 9:1 with seed 2022: 6840 / 760.
  AG News has no released dev split; ``split_dev=True`` carves one from those 6840 training rows (10 %, stratified by
  label, seed ``AGNEWS_DEV_SEED``): 6156 train / 684 dev, the 760 test rows unchanged. It exists for choosing settings
  (``RunConfig.select_on_dev``); the course's own split is the 6840 / 760 one.
* ``*_fs``: few-shot: ``FEW_SHOT_PER_LABEL`` training examples per label, drawn with seed ``FEW_SHOT_SEED``; full test.
* a list of names (or ``"a,b"``): the tasks concatenated, each task's labels offset past the previous ones.

Where the files come from is ``hwlib.data.sources``; reading them, ``hwlib.data.readers``; statistics for the book
(counts, token lengths, the quirks of the releases), ``hwlib.data.stats``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hwlib.data.readers import ACL_LABELS, AGNEWS_LABELS, POLARITY_LABELS, read_acl, read_agnews, read_semeval
from hwlib.data.sources import SOURCES, data_file, md5

AGNEWS_SPLIT_SEED = 2022
AGNEWS_DEV_SEED = 2023
FEW_SHOT_PER_LABEL = 8
FEW_SHOT_SEED = 42

# task base name -> (folder, label names)
TASKS = {
    "restaurant": ("semeval14_restaurant", POLARITY_LABELS),
    "laptop": ("semeval14_laptop", POLARITY_LABELS),
    "acl": ("acl_arc", ACL_LABELS),
    "agnews": ("ag_news", AGNEWS_LABELS),
}
DATASET_NAMES = [f"{t}_{kind}" for t in TASKS for kind in ("sup", "fs")]
# how the book names each task in prose, tables and figures
TASK_TITLES = {"restaurant": "restaurant", "laptop": "laptop", "acl": "ACL-ARC", "agnews": "AG News"}


def title(name: str) -> str:
    """The task of dataset ``name`` as the book names it (``acl_sup`` -> ``ACL-ARC``, ``agnews_fs`` -> ``AG News,
    few-shot``); a name that is not a dataset comes back as it is."""
    base, _, kind = name.rpartition("_")
    if base not in TASK_TITLES or kind not in ("sup", "fs"):
        return name
    return TASK_TITLES[base] + (", few-shot" if kind == "fs" else "")


def task_files(name: str, data_dir=None, split_dev: bool = False, allow_modified: bool | None = None) -> dict:
    """split -> verified local path of every file that task ``name`` reads (see ``data_file``)."""
    base = name.rsplit("_", 1)[0]
    folder = TASKS[base][0]
    return {split: data_file(folder, f, data_dir, allow_modified) for split, f in task_file_names(base, split_dev).items()}


def fingerprint(dataset_name, data_dir=None, split_dev: bool = False, allow_modified: bool | None = None) -> dict:
    """The data a run of ``dataset_name`` reads: ``{"files": {"acl_arc/train.jsonl": md5, ...}, "modified": [...]}``,
    ``modified`` listing the files that differ from the originals (only possible when modified data is allowed).

    A stored run keeps this; a run whose files differ from the files on disk now is not reused (``hwlib.store.runs``).
    """
    files, modified = {}, []
    for name in parse_names(dataset_name):
        for path in task_files(name, data_dir, split_dev, allow_modified).values():
            rel = f"{path.parent.name}/{path.name}"
            files[rel] = md5(path)
            if files[rel] != SOURCES[(path.parent.name, path.name)].md5:
                modified.append(rel)
    return {"files": dict(sorted(files.items())), "modified": sorted(set(modified))}


def task_file_names(base: str, split_dev: bool) -> dict[str, str]:
    """split -> file name in the task's folder (AG News has one file, split later)."""
    if base == "agnews":  # one file, split in _build_task (a dev split is carved from train when asked for)
        return {"all": "test.csv"}
    ext = "jsonl" if base == "acl" else "json"
    return {split: f"{split}.{ext}" for split in (("train", "dev", "test") if split_dev else ("train", "test"))}


# --------------------------------------------------------------------------------------------- building tasks
def _to_dataset(texts: list[str], labels: list[int], names: list[str]):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)


def column(ds, name: str) -> list:
    """A column as a list (``list(ds[name])`` iterates a datasets 4+ ``Column`` row by row, which is slow)."""
    return ds[name][:]


def _rows_to_dataset(rows: list[dict], names: list[str]):
    return _to_dataset([r["text"] for r in rows], [r["label"] for r in rows], names)


def few_shot(ds, per_label: int = FEW_SHOT_PER_LABEL, seed: int = FEW_SHOT_SEED):
    """A balanced sample: ``per_label`` examples of each label (all of a rarer one), drawn with ``seed``,
    kept in the order of ``ds``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(column(ds, "label"))
    keep = []
    for lab in range(ds.features["label"].num_classes):
        idx = np.flatnonzero(labels == lab)
        keep.extend(rng.choice(idx, size=min(per_label, len(idx)), replace=False).tolist())
    return ds.select(sorted(keep))


def _build_task(base: str, files: dict[str, Path], sep_token: str, split_dev: bool = False):
    import datasets

    names = TASKS[base][1]
    if base == "agnews":
        full = _rows_to_dataset(read_agnews(files["all"]), names)
        split = full.train_test_split(test_size=0.1, seed=AGNEWS_SPLIT_SEED)  # as datasets' ag_news in the course
        if not split_dev:
            return datasets.DatasetDict(train=split["train"], test=split["test"])
        dev = split["train"].train_test_split(test_size=0.1, seed=AGNEWS_DEV_SEED, stratify_by_column="label")
        return datasets.DatasetDict(train=dev["train"], dev=dev["test"], test=split["test"])
    read = read_acl if base == "acl" else (lambda p: read_semeval(p, sep_token))
    return datasets.DatasetDict({split: _rows_to_dataset(read(path), names) for split, path in files.items()})


def parse_names(dataset_name) -> list[str]:
    if isinstance(dataset_name, str):
        names = [n.strip() for n in dataset_name.split(",")]
    elif isinstance(dataset_name, (list, tuple)) and all(isinstance(n, str) for n in dataset_name):
        names = [n.strip() for n in dataset_name]
    else:
        raise ValueError(f"dataset_name must be a name, a comma-separated string or a list of names, got {dataset_name!r}")
    bad = [n for n in names if n not in DATASET_NAMES]
    if not names or bad:
        raise ValueError(f"unknown dataset name(s) {bad or names!r}; valid names are {DATASET_NAMES}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"dataset name(s) {repeated} given more than once in {dataset_name!r}")
    return names


def get_dataset(dataset_name, sep_token: str, data_dir: str | os.PathLike | None = None, split_dev: bool = False,
                allow_modified: bool | None = None):
    """Load one course task, or several aggregated, as a ``DatasetDict`` with ``train`` and ``test``.

    Columns: ``text`` (str) and ``label`` (``ClassLabel``). ``sep_token`` joins aspect term and sentence for the
    SemEval tasks, term first (pass ``tokenizer.sep_token``). ``split_dev=True`` keeps the release's ``dev`` split
    where one exists (ACL-ARC and SemEval). Aggregated tasks offset labels so that classes stay distinct; their
    label names become ``"<task>:<label>"``. Names, ``sep_token`` and every file (its md5 included) are checked
    before any is parsed; ``allow_modified`` is the explicit opt-out from the md5 check (see the module's notes).
    """
    import datasets

    names = parse_names(dataset_name)
    if not isinstance(sep_token, str) or not sep_token:
        raise ValueError(f"sep_token must be a non-empty string such as tokenizer.sep_token, got {sep_token!r}")
    files = {name: task_files(name, data_dir, split_dev, allow_modified) for name in names}  # fail fast

    parts = {}
    for name in names:
        base, kind = name.rsplit("_", 1)
        dd = _build_task(base, files[name], sep_token, split_dev)
        if kind == "fs":
            dd["train"] = few_shot(dd["train"])
        parts[name] = dd
    if len(names) == 1:
        return parts[names[0]]

    # aggregate: offset each task's labels past the previous tasks' labels
    all_names, offsets = [], {}
    for name in names:
        offsets[name] = len(all_names)
        all_names += [f"{name}:{lab}" for lab in parts[name]["train"].features["label"].names]
    out = {}
    for split in ("train", "dev", "test") if split_dev else ("train", "test"):
        texts, labels = [], []
        for name in names:
            if split in parts[name]:
                texts += column(parts[name][split], "text")
                labels += [y + offsets[name] for y in column(parts[name][split], "label")]
        out[split] = _to_dataset(texts, labels, all_names)
    return datasets.DatasetDict(out)
