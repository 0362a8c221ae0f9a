"""The course's Task 1 API: ``get_dataset(name, sep_token)`` on the real files.

Every task is read from one of four public releases (see ``SOURCES``). Files are found, in order, in

1. an explicit ``data_dir`` argument,
2. the directory named by ``HWLIB_DATA_DIR`` (the layout of ``shared/data``: ``acl_arc/train.jsonl`` ...),
3. a cache directory (``HWLIB_CACHE_DIR``, default ``~/.cache/hwlib/data``) filled by downloading the original
   files and checking their md5 before use.

Task names (the course's):

* ``restaurant_sup``, ``laptop_sup``: SemEval-14 aspect-term polarity; ``text = term + sep_token + sentence``.
* ``acl_sup``: ACL-ARC citation intent (6 labels), the release's train and test (``split="dev"`` is there too).
* ``agnews_sup``: AG News ``test.csv`` (title + " " + description) split 9:1 with seed 2022: 6840 / 760.
* ``*_fs``: few-shot: ``FEW_SHOT_PER_LABEL`` training examples per label, drawn with seed ``FEW_SHOT_SEED``; full test.
* a list of names (or ``"a,b"``): the tasks concatenated, each task's labels offset past the previous ones.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AGNEWS_SPLIT_SEED = 2022
FEW_SHOT_PER_LABEL = 8
FEW_SHOT_SEED = 42


class DataError(ValueError):
    """A dataset file is missing, corrupted or malformed."""


@dataclass(frozen=True)
class SourceFile:
    folder: str
    name: str
    md5: str
    url: str


_ACL = "https://raw.githubusercontent.com/wise-east/dont-stop-pretraining/2d24c2a2f60d19992e8f259d6b1a90ee1fb004ab/data/citation_intent/"
_ABSA = "https://raw.githubusercontent.com/howardhsu/BERT-for-RRC-ABSA/2d194b1b2fb106c93e64b68513eff48ad0b99a9f/transformers/data/ft/asc/14/"
_AG = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/555590db4219b1243abb1918effd6a7425a2d75f/data/ag_news_csv/"

SOURCES: dict[tuple[str, str], SourceFile] = {
    (f.folder, f.name): f
    for f in [
        SourceFile("acl_arc", "train.jsonl", "72eade17770b3dd4cfe47624e7672f64", _ACL + "train.jsonl"),
        SourceFile("acl_arc", "dev.jsonl", "cde2bf297d9e60c1b07b5b7e0e8462f3", _ACL + "dev.jsonl"),
        SourceFile("acl_arc", "test.jsonl", "b1aaa0c5c9cce47fa53e4f18ff7e8d4c", _ACL + "test.jsonl"),
        SourceFile("semeval14_restaurant", "train.json", "6e648bd0db96df15be1ed6f5883a88ef", _ABSA + "rest/train.json"),
        SourceFile("semeval14_restaurant", "dev.json", "9cc2e9f803f61acff59e59b3b935b88f", _ABSA + "rest/dev.json"),
        SourceFile("semeval14_restaurant", "test.json", "4621988e700804f0936ac74f9c63e03c", _ABSA + "rest/test.json"),
        SourceFile("semeval14_laptop", "train.json", "d298771abe76442181ce2a234c6d26fe", _ABSA + "laptop/train.json"),
        SourceFile("semeval14_laptop", "dev.json", "98a78f27923e35312331a13b802c1943", _ABSA + "laptop/dev.json"),
        SourceFile("semeval14_laptop", "test.json", "7a3e4d2cf6545cf64b9d549cddd22b5b", _ABSA + "laptop/test.json"),
        SourceFile("ag_news", "test.csv", "d52ea96a97a2d943681189a97654912d", _AG + "test.csv"),
    ]
}

ACL_LABELS = ["Background", "CompareOrContrast", "Extends", "Future", "Motivation", "Uses"]
POLARITY_LABELS = ["negative", "neutral", "positive"]
AGNEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]

# task base name -> (folder, label names)
TASKS = {
    "restaurant": ("semeval14_restaurant", POLARITY_LABELS),
    "laptop": ("semeval14_laptop", POLARITY_LABELS),
    "acl": ("acl_arc", ACL_LABELS),
    "agnews": ("ag_news", AGNEWS_LABELS),
}
DATASET_NAMES = [f"{t}_{kind}" for t in TASKS for kind in ("sup", "fs")]


# --------------------------------------------------------------------------------------------- finding files
def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("HWLIB_CACHE_DIR", Path.home() / ".cache" / "hwlib" / "data"))


def _url(src: SourceFile) -> str:
    mirror = os.environ.get("HWLIB_DATA_MIRROR")  # e.g. a local copy served over HTTP; same layout as shared/data
    return f"{mirror.rstrip('/')}/{src.folder}/{src.name}" if mirror else src.url


def download(src: SourceFile, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch ``src`` into ``dest``; verify the md5 before the file appears under its final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = _url(src)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        got = _md5(Path(tmp))
        if got != src.md5:
            raise DataError(f"download of {url} has md5 {got}, expected {src.md5}: refusing to use it")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        raise DataError(
            f"{src.folder}/{src.name} is not available locally and could not be downloaded from {url} ({e}). "
            f"Set HWLIB_DATA_DIR to a folder holding {src.folder}/{src.name} (the layout of shared/data), "
            f"or put the file at {dest}."
        ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def data_file(folder: str, name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path to a verified local copy of one source file (downloading it into the cache if needed)."""
    src = SOURCES[(folder, name)]
    root = data_dir if data_dir is not None else os.environ.get("HWLIB_DATA_DIR")
    if root:
        path = Path(root) / folder / name
        if not path.is_file():
            raise DataError(
                f"missing data file {path} (data directory {root!r}, from "
                f"{'the data_dir argument' if data_dir is not None else 'HWLIB_DATA_DIR'}). "
                f"Copy {folder}/{name} there, or unset HWLIB_DATA_DIR to download it from {src.url}"
            )
        return path
    path = cache_dir() / folder / name
    if path.is_file() and _md5(path) == src.md5:
        return path
    return download(src, path)  # absent, partial or corrupted: fetch again


# --------------------------------------------------------------------------------------------- parsing
def _check_label(label, names, where):
    if label not in names:
        raise DataError(f"{where}: unknown label {label!r}; expected one of {names}")
    return names.index(label)


def read_acl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                raise DataError(f"{path}, line {lineno}: empty line")
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or "label" not in rec:
                raise DataError(f"{path}, line {lineno}: expected an object with a string 'text' and a 'label'")
            rows.append({"text": rec["text"], "label": _check_label(rec["label"], ACL_LABELS, f"{path}, line {lineno}")})
    return rows


def read_semeval(path: Path, sep_token: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected one JSON object mapping ids to records, got {type(data).__name__}")
    rows = []
    for key, rec in data.items():
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in ("term", "sentence", "polarity")):
            raise DataError(f"{path}, record {key!r}: expected string fields 'term', 'sentence' and 'polarity'")
        label = _check_label(rec["polarity"], POLARITY_LABELS, f"{path}, record {key!r}")
        rows.append({"text": rec["term"] + sep_token + rec["sentence"], "label": label})
    return rows


def read_agnews(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        for rec in reader:
            where = f"{path}, line {reader.line_num}"
            if len(rec) != 3:
                raise DataError(f"{where}: expected 3 fields (class, title, description), got {len(rec)}")
            cls, title, desc = rec
            if cls not in ("1", "2", "3", "4"):
                raise DataError(f"{where}: unknown class {cls!r}; expected one of '1', '2', '3', '4' ({AGNEWS_LABELS})")
            rows.append({"text": f"{title} {desc}", "label": int(cls) - 1})
    return rows


# --------------------------------------------------------------------------------------------- building tasks
def _to_dataset(rows: list[dict], names: list[str]):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict(
        {"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]}, features=features
    )


def few_shot(ds, per_label: int = FEW_SHOT_PER_LABEL, seed: int = FEW_SHOT_SEED):
    """A balanced sample: ``per_label`` examples of each label (all of a rarer one), in a seeded random order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(ds["label"])
    keep = []
    for lab in range(ds.features["label"].num_classes):
        idx = np.flatnonzero(labels == lab)
        keep.extend(rng.choice(idx, size=min(per_label, len(idx)), replace=False).tolist())
    return ds.select(sorted(keep))


def _load_task(base: str, sep_token: str, data_dir) -> "datasets.DatasetDict":
    import datasets

    folder, names = TASKS[base]
    if base == "agnews":
        full = _to_dataset(read_agnews(data_file(folder, "test.csv", data_dir)), names)
        split = full.train_test_split(test_size=0.1, seed=AGNEWS_SPLIT_SEED)
        return datasets.DatasetDict(train=split["train"], test=split["test"])
    out = {}
    for split in ("train", "dev", "test"):
        if base == "acl":
            rows = read_acl(data_file(folder, f"{split}.jsonl", data_dir))
        else:
            rows = read_semeval(data_file(folder, f"{split}.json", data_dir), sep_token)
        out[split] = _to_dataset(rows, names)
    return datasets.DatasetDict(out)


def _parse_names(dataset_name) -> list[str]:
    if isinstance(dataset_name, str):
        names = [n.strip() for n in dataset_name.split(",")]
    elif isinstance(dataset_name, (list, tuple)) and all(isinstance(n, str) for n in dataset_name):
        names = [n.strip() for n in dataset_name]
    else:
        raise ValueError(f"dataset_name must be a name, a comma-separated string or a list of names, got {dataset_name!r}")
    bad = [n for n in names if n not in DATASET_NAMES]
    if not names or bad:
        raise ValueError(f"unknown dataset name(s) {bad or names!r}; valid names are {DATASET_NAMES}")
    return names


def get_dataset(dataset_name, sep_token: str, data_dir: str | os.PathLike | None = None, split_dev: bool = False):
    """Load one course task, or several aggregated, as a ``DatasetDict`` with ``train`` and ``test``.

    Columns: ``text`` (str) and ``label`` (``ClassLabel``). ``sep_token`` joins aspect term and sentence for the
    SemEval tasks (pass ``tokenizer.sep_token``). ``split_dev=True`` keeps the release's ``dev`` split where one
    exists (ACL-ARC and SemEval). Aggregated tasks offset labels so that classes stay distinct; their label
    names become ``"<task>:<label>"``.
    """
    import datasets

    names = _parse_names(dataset_name)
    if not isinstance(sep_token, str) or not sep_token:
        raise ValueError(f"sep_token must be a non-empty string such as tokenizer.sep_token, got {sep_token!r}")

    parts = {}
    for name in names:
        base, kind = name.rsplit("_", 1)
        dd = _load_task(base, sep_token, data_dir)
        if kind == "fs":
            dd["train"] = few_shot(dd["train"])
        if not split_dev and "dev" in dd:
            del dd["dev"]
        parts[name] = dd
    if len(names) == 1:
        return parts[names[0]]

    # aggregate: offset each task's labels past the previous tasks' labels
    all_names, offsets = [], {}
    for name in names:
        offsets[name] = len(all_names)
        all_names += [f"{name}:{lab}" for lab in parts[name]["train"].features["label"].names]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=all_names)})
    out = {}
    for split in ("train", "test") + (("dev",) if split_dev else ()):
        pieces = []
        for name in names:
            if split not in parts[name]:
                continue
            ds = parts[name][split]
            off = offsets[name]
            ds = ds.cast_column("label", datasets.Value("int64")).map(
                lambda b, off=off: {"label": [x + off for x in b["label"]]}, batched=True
            )
            pieces.append(ds.cast(features))
        out[split] = datasets.concatenate_datasets(pieces)
    return datasets.DatasetDict(out)


# --------------------------------------------------------------------------------------------- statistics
def label_counts(dd) -> "pandas.DataFrame":
    """Rows: splits; columns: label names; values: counts (plus a total)."""
    import pandas as pd

    table = {}
    for split, ds in dd.items():
        names = ds.features["label"].names
        counts = np.bincount(np.asarray(ds["label"]), minlength=len(names))
        table[split] = dict(zip(names, counts.tolist()))
    df = pd.DataFrame(table).T
    df["total"] = df.sum(axis=1)
    return df


def length_percentiles(dd, tokenizer, percentiles=(50, 90, 95, 99, 100)) -> "pandas.DataFrame":
    """Token-length percentiles per split for ``tokenizer`` (special tokens included, no truncation)."""
    import pandas as pd

    rows = {}
    for split, ds in dd.items():
        lengths = [len(ids) for ids in tokenizer(list(ds["text"]), truncation=False)["input_ids"]]
        rows[split] = {f"p{p}": int(np.percentile(lengths, p)) for p in percentiles} | {"mean": float(np.mean(lengths))}
    return pd.DataFrame(rows).T
