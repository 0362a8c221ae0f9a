"""The course's Task 1 API: ``get_dataset(name, sep_token)`` on the real files.

Every task is read from one of four public releases (see ``SOURCES``). Files are found, in order, in

1. an explicit ``data_dir`` argument,
2. the directory named by ``HWLIB_DATA_DIR`` (the layout of ``shared/data``: ``acl_arc/train.jsonl`` ...),
3. a cache directory (``HWLIB_CACHE_DIR``, default ``~/.cache/hwlib/data``) filled by downloading the original
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

Statistics for the book (counts, token lengths, the quirks of the releases) are in ``hwlib.datastats``.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AGNEWS_SPLIT_SEED = 2022
AGNEWS_DEV_SEED = 2023
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
_MD5_CACHE: dict[tuple, str] = {}


def md5(path: Path) -> str:
    """The file's md5, remembered per (path, size, modification time) so that checking a file again is free."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MD5_CACHE:
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _MD5_CACHE[key] = h.hexdigest()
    return _MD5_CACHE[key]


def modified_data_allowed(allow_modified: bool | None = None) -> bool:
    """The explicit opt-out from the md5 check: ``allow_modified``, else ``HWLIB_ALLOW_MODIFIED_DATA=1``."""
    if allow_modified is not None:
        return bool(allow_modified)
    return os.environ.get("HWLIB_ALLOW_MODIFIED_DATA", "0") == "1"


def cache_dir() -> Path:
    return Path(os.environ.get("HWLIB_CACHE_DIR") or Path.home() / ".cache" / "hwlib" / "data")


def _url(src: SourceFile) -> str:
    mirror = os.environ.get("HWLIB_DATA_MIRROR")  # e.g. a local copy served over HTTP; same layout as shared/data
    return f"{mirror.rstrip('/')}/{src.folder}/{src.name}" if mirror else src.url


def download(src: SourceFile, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch ``src`` into ``dest``; verify the md5 before the file appears under its final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = _url(src)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise DataError(f"download of {src.folder}/{src.name} from {url} was cut short: {received} of "
                            f"{expected} bytes; refusing to use it (run again to retry)")
        got = md5(Path(tmp))
        if got != src.md5:
            raise DataError(f"download of {src.folder}/{src.name} from {url} has md5 {got}, expected {src.md5}: "
                            f"refusing to use it")
        os.replace(tmp, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # incl. timeouts, truncated bodies
        raise DataError(
            f"{src.folder}/{src.name} is not available locally and could not be downloaded from {url} ({e}). "
            f"Set HWLIB_DATA_DIR to a folder holding {src.folder}/{src.name} (the layout of shared/data), "
            f"or put the file at {dest}."
        ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def data_file(folder: str, name: str, data_dir: str | os.PathLike | None = None,
              allow_modified: bool | None = None) -> Path:
    """Path to a verified local copy of one source file: in ``data_dir`` / ``HWLIB_DATA_DIR``, else in the cache
    (downloaded when absent, partial or corrupted). A local copy whose md5 is not the registered one is refused
    unless modified data is allowed (``modified_data_allowed``)."""
    src = SOURCES[(folder, name)]
    root = data_dir if data_dir is not None else os.environ.get("HWLIB_DATA_DIR")
    if root:
        origin = "the data_dir argument" if data_dir is not None else "HWLIB_DATA_DIR"
        path = Path(root) / folder / name
        if not path.is_file():
            raise DataError(
                f"missing data file {path} (data directory {str(root)!r}, from {origin}). "
                f"Copy {folder}/{name} there, or unset HWLIB_DATA_DIR to download it from {src.url}"
            )
        got = md5(path)
        if got != src.md5:
            if not modified_data_allowed(allow_modified):
                raise DataError(
                    f"data file {path} (from {origin}) has md5 {got}, but the original {folder}/{name} has md5 "
                    f"{src.md5}: it is not the released file (truncated, edited or another version). Restore it from "
                    f"{src.url}, or unset HWLIB_DATA_DIR to download and verify it; to use modified data on purpose, "
                    f"set HWLIB_ALLOW_MODIFIED_DATA=1 (runs trained on it are stored apart, marked as modified)"
                )
            warnings.warn(f"using modified data: {path} has md5 {got}, not the original's {src.md5} "
                          f"(HWLIB_ALLOW_MODIFIED_DATA=1)", stacklevel=2)
        return path
    path = cache_dir() / folder / name
    if path.is_file() and md5(path) == src.md5:
        return path
    return download(src, path)  # absent, partial or corrupted: fetch again


def task_files(name: str, data_dir=None, split_dev: bool = False, allow_modified: bool | None = None) -> dict:
    """split -> verified local path of every file that task ``name`` reads (see ``data_file``)."""
    base = name.rsplit("_", 1)[0]
    folder = TASKS[base][0]
    return {split: data_file(folder, f, data_dir, allow_modified) for split, f in task_file_names(base, split_dev).items()}


def fingerprint(dataset_name, data_dir=None, split_dev: bool = False, allow_modified: bool | None = None) -> dict:
    """The data a run of ``dataset_name`` reads: ``{"files": {"acl_arc/train.jsonl": md5, ...}, "modified": [...]}``,
    ``modified`` listing the files that differ from the originals (only possible when modified data is allowed).

    A stored run keeps this; a run whose files differ from the files on disk now is not reused (``hwlib.results``).
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


# --------------------------------------------------------------------------------------------- parsing
def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: not valid UTF-8 (byte offset {e.start})") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text


def _check_label(label, names, where):
    if label not in names:
        raise DataError(f"{where}: unknown label {label!r}; expected one of {names}")
    return names.index(label)


def read_acl(path: Path) -> list[dict]:
    """ACL-ARC JSON Lines: ``{"text": ..., "label": "<one of ACL_LABELS>", "metadata": {}}`` per line."""
    lines = _read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}, line {lineno}: empty line")
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or "label" not in rec:
            raise DataError(f"{path}, line {lineno}: expected an object with a string 'text' and a 'label'")
        rows.append({"text": rec["text"], "label": _check_label(rec["label"], ACL_LABELS, f"{path}, line {lineno}")})
    return rows


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_semeval(path: Path, sep_token: str) -> list[dict]:
    """SemEval-14 (Hu Xu's release): one JSON object ``id -> {polarity, term, id, sentence}``."""
    text = _read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)  # a repeated id would silently drop a record
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg})") from None
    except _DuplicateKey as e:
        raise DataError(f"{path}: key {e.args[0]!r} occurs twice in one object (record ids must be unique)") from None
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
    """AG News CSV: ``"<class 1-4>","<title>","<description>"`` per row, no header."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    rows = []
    try:
        for rec in reader:
            where = f"{path}, line {reader.line_num}"
            if len(rec) != 3:
                raise DataError(f"{where}: expected 3 fields (class, title, description), got {len(rec)}")
            cls, title, desc = rec
            if cls not in ("1", "2", "3", "4"):
                raise DataError(f"{where}: unknown class {cls!r}; expected one of '1', '2', '3', '4' ({AGNEWS_LABELS})")
            rows.append({"text": f"{title} {desc}", "label": int(cls) - 1})
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({e})") from None
    return rows


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
