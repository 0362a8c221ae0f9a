"""Reading the releases' files into rows ``{"text", "label"}``, each malformed line named with its file and number."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hwlib.data.sources import DataError

ACL_LABELS = ["Background", "CompareOrContrast", "Extends", "Future", "Motivation", "Uses"]
POLARITY_LABELS = ["negative", "neutral", "positive"]
AGNEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]


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
