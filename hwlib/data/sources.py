"""Where the course's files come from: the four public releases (``SOURCES``), their md5s, and finding a verified
local copy of each file (``data_file``).

A file is found, in order, in an explicit ``data_dir`` argument, in the directory named by ``HWLIB_DATA_DIR`` (the
layout of ``shared/data``: ``acl_arc/train.jsonl`` ...), else in ``$HWLIB_CACHE_DIR/data`` (default
``~/.cache/hwlib/data``), downloaded there from the original URL (or from ``HWLIB_DATA_MIRROR``, same layout). Its md5
must be the registered one unless modified data is allowed (``HWLIB_ALLOW_MODIFIED_DATA=1``).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from hwlib.files import cache_root

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
    """Where downloaded files are kept: ``$HWLIB_CACHE_DIR/data`` (default ``~/.cache/hwlib/data``)."""
    return cache_root() / "data"


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
