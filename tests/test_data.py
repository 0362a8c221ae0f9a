"""hwlib.data: the course's tasks on the real files, the quirk reports, every error path, and the download path.

Real-data tests read HWLIB_DATA_DIR (CI sets it); without it they use the download cache and are skipped only when
the files cannot be downloaded either. Error tests write small broken files into tmp_path. Download tests serve small
fake files from an HTTP server on 127.0.0.1 (loopback only) and register their md5 in ``hwlib.data.SOURCES``.
"""
import dataclasses
import functools
import hashlib
import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hwlib import data
from hwlib.data import stats as datastats
from hwlib.data import ACL_LABELS, AGNEWS_LABELS, DATASET_NAMES, POLARITY_LABELS, DataError, get_dataset
from hwlib.data.stats import aspect_term_report, duplicate_report, label_counts, length_percentiles, split_overlap

SEP = "[SEP]"


def _md5_text(texts) -> str:
    return hashlib.md5("\n".join(texts).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def real():
    """``real(name, split_dev=False)``: a cached loader on the real files (HWLIB_DATA_DIR or the download cache)."""
    if not os.environ.get("HWLIB_DATA_DIR"):
        try:
            for folder, name in data.SOURCES:
                data.data_file(folder, name)
        except DataError as e:
            pytest.skip(f"HWLIB_DATA_DIR is unset and the data cannot be downloaded (no network?): {e}")
    return functools.lru_cache(maxsize=None)(lambda name, split_dev=False: get_dataset(name, SEP, split_dev=split_dev))


# Counts per split and label, from shared/data/*/SOURCE.md (label order = the ClassLabel's names)
EXPECTED = {
    "acl_sup": (ACL_LABELS, {  # Background, CompareOrContrast, Extends, Future, Motivation, Uses
        "train": [867, 305, 63, 60, 76, 317], "dev": [59, 21, 4, 4, 5, 21], "test": [71, 25, 5, 5, 7, 26]}),
    "restaurant_sup": (POLARITY_LABELS, {  # negative, neutral, positive
        "train": [779, 579, 2094], "dev": [26, 54, 70], "test": [196, 196, 728]}),
    "laptop_sup": (POLARITY_LABELS, {"train": [800, 433, 930], "dev": [66, 27, 57], "test": [128, 169, 341]}),
    # SOURCE.md: 1900 per class in test.csv; the per-split counts are those of the seeded 9:1 split
    # with split_dev=True the dev split (stratified, seed AGNEWS_DEV_SEED) is carved from the course's training split,
    # whose counts are [1723, 1692, 1711, 1714] (test_agnews_dev_is_carved_from_train_and_leaves_test_alone)
    "agnews_sup": (AGNEWS_LABELS, {"train": [1551, 1523, 1540, 1542], "dev": [172, 169, 171, 172],
                                   "test": [177, 208, 189, 186]}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_counts_per_split_and_label(real, name):
    names, counts = EXPECTED[name]
    dd = real(name, split_dev=True)
    assert list(dd) == list(counts)
    table = label_counts(dd)
    for split, expected in counts.items():
        ds = dd[split]
        assert list(ds.column_names) == ["text", "label"]
        assert ds.features["label"].names == names
        assert table.loc[split, names].tolist() == expected, split
        assert table.loc[split, "total"] == len(ds) == sum(expected)


def test_default_splits_are_train_and_test(real):
    for name in DATASET_NAMES:
        assert list(real(name)) == ["train", "test"], name


def test_semeval_text_is_term_then_sep_then_sentence(real):
    train = real("restaurant_sup")["train"]
    i = train["text"][:].index("server" + SEP + "Our server was very helpful and friendly.")  # record 1592_0
    assert train.features["label"].int2str(train[i]["label"]) == "positive"
    other = get_dataset("restaurant_sup", " </s> ")["train"]
    assert other[i]["text"] == "server </s> Our server was very helpful and friendly."


def test_acl_keeps_file_order_and_text(real):
    path = Path(data.data_file("acl_arc", "train.jsonl"))
    first = json.loads(path.read_text(encoding="utf-8").split("\n")[0])
    row = real("acl_sup")["train"][0]
    assert row["text"] == first["text"] and ACL_LABELS[row["label"]] == first["label"]


def test_agnews_is_parsed_with_a_csv_reader_and_split_9_to_1(real):
    dd = real("agnews_sup")
    assert (len(dd["train"]), len(dd["test"])) == (6840, 760)
    texts = dd["train"]["text"][:] + dd["test"]["text"][:]
    assert len(set(texts)) == 7600  # a partition of test.csv: no row lost, none in both splits
    assert all(not t.startswith('"') for t in texts)  # quotes were CSV syntax, not text
    row = [(t, y) for t, y in zip(texts, dd["train"]["label"][:] + dd["test"]["label"][:])
           if t.startswith("Fears for T N pension after talks Unions representing workers at Turner   Newall say")]
    assert len(row) == 1 and AGNEWS_LABELS[row[0][1]] == "Business"


def test_agnews_split_is_deterministic(real):
    again = get_dataset("agnews_sup", SEP)
    first = real("agnews_sup")
    for split in ("train", "test"):
        assert again[split]["text"][:] == first[split]["text"][:]
    # pinned: the split the book's stored runs were trained and evaluated on (seed 2022, datasets' permutation)
    assert (_md5_text(first["train"]["text"][:]), _md5_text(first["test"]["text"][:])) == ("a9323c47bc33", "9ccce1e754c5")


def test_sources_registry_matches_the_local_copies(real):
    if not os.environ.get("HWLIB_DATA_DIR"):
        pytest.skip("checks the files in HWLIB_DATA_DIR (the cache is verified by md5 on every use)")
    for (folder, name), src in data.SOURCES.items():
        assert data.md5(Path(os.environ["HWLIB_DATA_DIR"]) / folder / name) == src.md5, (folder, name)


# ------------------------------------------------------------------------------------------------ few-shot
FS_PINNED = {"acl_fs": "a7b6cbf48c06", "restaurant_fs": "8f6b12caf9fd", "laptop_fs": "a51e28c0f2b1",
             "agnews_fs": "2cb829010ac9"}


@pytest.mark.parametrize("name", sorted(FS_PINNED))
def test_few_shot_is_balanced_deterministic_and_drawn_from_train(real, name):
    fs, sup = real(name), real(name.replace("_fs", "_sup"))
    counts = label_counts(fs).loc["train"].drop("total")
    assert counts.tolist() == [data.FEW_SHOT_PER_LABEL] * fs["train"].features["label"].num_classes
    pairs = set(zip(sup["train"]["text"][:], sup["train"]["label"][:]))
    assert all(p in pairs for p in zip(fs["train"]["text"][:], fs["train"]["label"][:]))
    assert fs["test"]["text"][:] == sup["test"]["text"][:]  # full test split
    assert get_dataset(name, SEP)["train"]["text"][:] == fs["train"]["text"][:]
    assert _md5_text(fs["train"]["text"][:]) == FS_PINNED[name]  # the sample is part of the book's results


def test_few_shot_takes_all_of_a_rare_label_and_depends_on_the_seed(real):
    train = real("acl_sup")["train"]
    small = data.few_shot(train, per_label=70)  # Future has 60, Extends 63 examples
    assert label_counts({"train": small}).loc["train", ACL_LABELS].tolist() == [70, 70, 63, 60, 70, 70]
    a, b = data.few_shot(train, seed=1), data.few_shot(train, seed=2)
    assert a["text"][:] != b["text"][:] and len(a) == len(b) == 6 * data.FEW_SHOT_PER_LABEL


# ------------------------------------------------------------------------------------------------ aggregation
def test_aggregation_offsets_labels_and_keeps_names(real):
    parts = [real("restaurant_sup"), real("acl_sup"), real("agnews_fs")]
    agg = get_dataset("restaurant_sup,acl_sup,agnews_fs", SEP)
    assert get_dataset(["restaurant_sup", "acl_sup", "agnews_fs"], SEP)["test"]["label"][:] == agg["test"]["label"][:]
    names = agg["train"].features["label"].names
    assert names == ([f"restaurant_sup:{n}" for n in POLARITY_LABELS] + [f"acl_sup:{n}" for n in ACL_LABELS]
                     + [f"agnews_fs:{n}" for n in AGNEWS_LABELS])
    for split in ("train", "test"):
        texts, labels = agg[split]["text"][:], agg[split]["label"][:]
        start = 0
        for offset, part in zip((0, 3, 9), parts):
            ds = part[split]
            assert texts[start:start + len(ds)] == ds["text"][:]
            assert labels[start:start + len(ds)] == [y + offset for y in ds["label"][:]]
            start += len(ds)
        assert start == len(texts)


def test_aggregation_with_dev_keeps_the_tasks_that_have_one(real):
    agg = get_dataset(["acl_sup", "laptop_sup"], SEP, split_dev=True)
    assert list(agg) == ["train", "dev", "test"]
    assert len(agg["dev"]) == 114 + 150 and len(agg["train"]) == 1688 + 2163


def test_agnews_dev_is_carved_from_train_and_leaves_test_alone(real):
    plain, dev = real("agnews_sup"), real("agnews_sup", split_dev=True)
    assert (len(dev["train"]), len(dev["dev"]), len(dev["test"])) == (6156, 684, 760)
    assert dev["test"]["text"][:] == plain["test"]["text"][:]
    assert sorted(dev["train"]["text"][:] + dev["dev"]["text"][:]) == sorted(plain["train"]["text"][:])
    assert np.bincount(plain["train"]["label"][:]).tolist() == [1723, 1692, 1711, 1714]
    assert dev["dev"]["text"][:] == get_dataset("agnews_sup", SEP, split_dev=True)["dev"]["text"][:]  # deterministic


# ------------------------------------------------------------------------------------------------ statistics
class _WhitespaceTokenizer:
    def __call__(self, texts, truncation=False):
        return {"input_ids": [t.split() for t in texts]}


def test_length_percentiles_are_observed_lengths():
    dd = {"train": _dataset([" ".join(["w"] * n) for n in range(1, 11)], [0] * 10)}
    table = length_percentiles(dd, _WhitespaceTokenizer(), percentiles=(50, 90, 100))
    assert table.loc["train"].to_dict() == {"p50": 5, "p90": 9, "p100": 10, "mean": 5.5}


def test_length_percentiles_on_real_data_with_minilm(real):
    from hwlib.models.encoders import load_tokenizer

    tok = load_tokenizer("minilm")
    dd = real("acl_sup")
    table = length_percentiles(dd, tok)
    lengths = datastats.token_lengths(dd["test"], tok)
    assert table.loc["test", "p100"] == lengths.max() and lengths.min() >= 3  # [CLS] text [SEP]
    assert (table[["p50", "p90", "p95", "p99", "p100"]].diff(axis=1).iloc[:, 1:] >= 0).all().all()


# ------------------------------------------------------------------------------------------------ quirks
def test_acl_duplicates_and_split_overlap_match_source_md(real):
    dd = real("acl_sup", split_dev=True)
    dup = duplicate_report(dd)
    assert dup.loc["train"].tolist() == [1688, 1270, 258, 8, 20]  # rows, distinct, repeated, max copies, conflicts
    assert dup.loc[["dev", "test"], "distinct_texts"].tolist() == [112, 135]
    ov = split_overlap(dd)
    assert ov.loc[("dev", "train"), ["rows_in_other", "same_label"]].tolist() == [43, 42]
    assert ov.loc[("test", "train"), ["rows", "rows_in_other", "same_label"]].tolist() == [139, 52, 47]
    assert ov.loc[("test", "dev"), "shared_texts"] == 7


def test_semeval_repeated_terms_match_source_md(real):
    dd = real("restaurant_sup", split_dev=True)
    dup = duplicate_report(dd)  # a repeated text is a repeated (term, sentence) pair
    assert dup.loc["train", ["repeated_texts", "conflicting_labels"]].tolist() == [33, 10]
    assert dup.loc["test", "repeated_texts"] == 3
    terms = aspect_term_report(dd, SEP)
    assert terms["term_repeated_in_sentence"].tolist() == [116, 4, 23]  # train, dev, test
    assert terms.loc[["dev", "test"], "distinct_sentences"].tolist() == [84, 600]
    with pytest.raises(ValueError, match=r"sep_token '</s>'"):
        aspect_term_report(dd, "</s>")


def test_split_overlap_counts_rows_of_the_later_split():
    dd = {"train": _dataset(["a", "a", "b", "c"], [0, 1, 0, 0]), "test": _dataset(["a", "b", "b", "d"], [1, 1, 1, 0])}
    row = split_overlap(dd).loc[("test", "train")]
    assert row.to_dict() == {"rows": 4, "rows_in_other": 3, "same_label": 1, "shared_texts": 2}
    dup = duplicate_report(dd)
    assert dup.loc["train"].to_dict() == {"rows": 4, "distinct_texts": 3, "repeated_texts": 1, "max_copies": 2,
                                          "conflicting_labels": 1}


# ------------------------------------------------------------------------------------------------ small fake files
def _dataset(texts, labels):
    return data.tasks._to_dataset(texts, labels, ["x", "y"])


def write_fake_data(root: Path) -> Path:
    """Small, valid files in the layout of shared/data (AG News with commas, quotes and a backslash)."""
    for split, n in (("train", 12), ("dev", 6), ("test", 6)):
        lines = [json.dumps({"text": f"{split} citation {i} ( Och , 2003 )", "label": ACL_LABELS[i % 6],
                             "metadata": {}}) for i in range(n)]
        _write(root / "acl_arc" / f"{split}.jsonl", "\n".join(lines) + "\n")
        for folder in ("semeval14_restaurant", "semeval14_laptop"):
            recs = {f"{i}_0": {"polarity": POLARITY_LABELS[i % 3], "term": f"term{i}", "id": f"{i}_0",
                               "sentence": f"The term{i} was fine in {split}."} for i in range(n)}
            _write(root / folder / f"{split}.json", json.dumps(recs))
    rows = [[str(i % 4 + 1), f"Title {i}, with a comma", f'He said ""hi"" {i}\\again'] for i in range(20)]
    _write(root / "ag_news" / "test.csv", "".join('"' + '","'.join(r) + '"\n' for r in rows))
    return root


def _write(path: Path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Small made-up files: not the originals, so they are read with the explicit opt-out from the md5 check."""
    monkeypatch.delenv("HWLIB_DATA_DIR", raising=False)
    monkeypatch.setenv("HWLIB_ALLOW_MODIFIED_DATA", "1")
    return write_fake_data(tmp_path / "data")


def test_a_local_file_that_is_not_the_original_is_refused(fake, monkeypatch):
    monkeypatch.delenv("HWLIB_ALLOW_MODIFIED_DATA")
    path = fake / "acl_arc" / "train.jsonl"
    with pytest.raises(DataError) as err:
        get_dataset("acl_sup", SEP, data_dir=fake)
    text = str(err.value)
    assert f"data file {path} (from the data_dir argument) has md5 {data.md5(path)}" in text
    assert f"the original acl_arc/train.jsonl has md5 {data.SOURCES[('acl_arc', 'train.jsonl')].md5}" in text
    assert "Restore it from https://" in text and "HWLIB_ALLOW_MODIFIED_DATA=1" in text
    with pytest.warns(UserWarning, match=r"using modified data: .*acl_arc/train\.jsonl"):
        assert len(get_dataset("acl_sup", SEP, data_dir=fake, allow_modified=True)["train"]) == 12
    fp = data.fingerprint("acl_sup", data_dir=fake, allow_modified=True)
    assert fp["modified"] == ["acl_arc/test.jsonl", "acl_arc/train.jsonl"] and fp["files"]["acl_arc/train.jsonl"] == data.md5(path)


def test_fingerprint_of_the_real_data_is_the_registered_md5s(real):
    fp = data.fingerprint("acl_sup,restaurant_sup", split_dev=True)
    assert fp["modified"] == [] and len(fp["files"]) == 6
    assert all(fp["files"][f"{folder}/{name}"] == src.md5 for (folder, name), src in data.SOURCES.items()
               if folder in ("acl_arc", "semeval14_restaurant"))


def test_fake_files_load_and_agnews_csv_quoting_is_honoured(fake):
    dd = get_dataset("agnews_sup", SEP, data_dir=fake)
    assert (len(dd["train"]), len(dd["test"])) == (18, 2)
    texts = sorted(dd["train"]["text"][:] + dd["test"]["text"][:], key=lambda t: int(t.split()[1].rstrip(",")))
    assert texts[3] == 'Title 3, with a comma He said "hi" 3\\again'
    assert len(get_dataset("laptop_fs", SEP, data_dir=fake)["train"]) == 3 * 4  # all of each label (4 < 8)


def test_data_dir_argument_wins_over_the_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("HWLIB_DATA_DIR", str(tmp_path / "empty"))
    assert len(get_dataset("acl_sup", SEP, data_dir=fake)["train"]) == 12
    with pytest.raises(DataError, match="HWLIB_DATA_DIR"):
        get_dataset("acl_sup", SEP)
    monkeypatch.setenv("HWLIB_DATA_DIR", str(fake))
    assert len(get_dataset("acl_sup", SEP)["test"]) == 6


# ------------------------------------------------------------------------------------------------ errors
def test_unknown_name_is_refused_before_any_file_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset name\(s\) \['acl_sp'\]") as e:
        get_dataset("restaurant_sup,acl_sp", SEP, data_dir=tmp_path)  # tmp_path is empty: no file was looked for
    assert all(n in str(e.value) for n in DATASET_NAMES)
    with pytest.raises(ValueError, match="more than once"):
        get_dataset(["acl_sup", "acl_sup"], SEP, data_dir=tmp_path)
    with pytest.raises(ValueError, match="dataset_name must be"):
        get_dataset(3, SEP, data_dir=tmp_path)
    with pytest.raises(ValueError, match="sep_token must be a non-empty string"):
        get_dataset("acl_sup", "", data_dir=tmp_path)


def test_missing_file_names_it_and_how_to_provide_it(fake):
    (fake / "acl_arc" / "test.jsonl").unlink()
    with pytest.raises(DataError, match=r"missing data file .*acl_arc/test\.jsonl.*data_dir argument.*HWLIB_DATA_DIR"):
        get_dataset("acl_sup", SEP, data_dir=fake)
    assert len(get_dataset("restaurant_sup", SEP, data_dir=fake)["train"]) == 12  # other tasks are unaffected


def test_every_file_is_located_before_any_is_parsed(fake):
    _write(fake / "semeval14_restaurant" / "train.json", "{not json")
    (fake / "acl_arc" / "train.jsonl").unlink()
    with pytest.raises(DataError, match=r"missing data file .*acl_arc/train\.jsonl"):
        get_dataset("restaurant_sup,acl_sup", SEP, data_dir=fake)


def test_dev_file_is_only_needed_when_asked_for(fake):
    (fake / "acl_arc" / "dev.jsonl").unlink()
    assert list(get_dataset("acl_sup", SEP, data_dir=fake)) == ["train", "test"]
    with pytest.raises(DataError, match=r"dev\.jsonl"):
        get_dataset("acl_sup", SEP, data_dir=fake, split_dev=True)


def _acl_line(i, **rec):
    return json.dumps({"text": f"citation {i}", "label": "Uses", "metadata": {}} | rec)


@pytest.mark.parametrize("content, problem", [
    ("\n".join([_acl_line(1), _acl_line(2), '{"text": "broken', _acl_line(4)]) + "\n", r"line 3: not valid JSON"),
    ("\n".join([_acl_line(1), _acl_line(2, label="Uses-ish")]) + "\n", r"line 2: unknown label 'Uses-ish'; expected one of \['Background'"),
    ("\n".join([_acl_line(1), json.dumps({"label": "Uses"})]) + "\n", r"line 2: expected an object with a string 'text'"),
    ("\n".join([_acl_line(1), "", _acl_line(3)]) + "\n", r"line 2: empty line"),
    ("\n".join([_acl_line(1), "[1, 2]"]) + "\n", r"line 2: expected an object"),
    ("", r"the file is empty"),
    (_acl_line(1).encode() + b"\n" + b'{"text": "caf\xe9", "label": "Uses"}\n', r"line 2: not valid UTF-8"),
])
def test_malformed_acl_file_names_file_line_and_problem(fake, content, problem):
    _write(fake / "acl_arc" / "train.jsonl", content)
    with pytest.raises(DataError, match=r"acl_arc/train\.jsonl.*" + problem):
        get_dataset("acl_sup", SEP, data_dir=fake)


@pytest.mark.parametrize("content, problem", [
    ('{"1_0": {"polarity": "positive", "term": "a", "id": "1_0", "sentence": "a b"},\n "2_0": ', r"not valid JSON at line 2"),
    ('[{"polarity": "positive", "term": "a", "sentence": "a"}]', r"expected one JSON object mapping ids to records, got list"),
    ('{"7_1": {"polarity": "conflict", "term": "a", "id": "7_1", "sentence": "a"}}', r"record '7_1': unknown label 'conflict'"),
    ('{"7_1": {"polarity": "positive", "id": "7_1", "sentence": "a"}}', r"record '7_1': expected string fields 'term'"),
    ('{"7_1": {"polarity": "positive", "term": "a", "id": "7_1", "sentence": "a"}, '
     '"7_1": {"polarity": "negative", "term": "a", "id": "7_1", "sentence": "a"}}', r"key '7_1' occurs twice"),
])
def test_malformed_semeval_file_names_file_record_and_problem(fake, content, problem):
    _write(fake / "semeval14_laptop" / "test.json", content)
    with pytest.raises(DataError, match=r"semeval14_laptop/test\.json.*" + problem):
        get_dataset("laptop_sup", SEP, data_dir=fake)


@pytest.mark.parametrize("bad_row, problem", [
    ('"2","A title","A description","extra"\n', r"line 4: expected 3 fields \(class, title, description\), got 4"),
    ('"2","A title, naively split"\n', r"line 4: expected 3 fields .* got 2"),
    ('"5","A title","A description"\n', r"line 4: unknown class '5'"),
    ("\n", r"line 4: expected 3 fields .* got 0"),
    ('"2","A "title","A description"\n', r"line 4: malformed CSV"),
])
def test_malformed_agnews_row_names_file_line_and_problem(fake, bad_row, problem):
    path = fake / "ag_news" / "test.csv"
    lines = path.read_text().splitlines(keepends=True)
    _write(path, "".join(lines[:3]) + bad_row + "".join(lines[3:]))
    with pytest.raises(DataError, match=r"ag_news/test\.csv, " + problem):
        get_dataset("agnews_fs", SEP, data_dir=fake)


# ------------------------------------------------------------------------------------------------ download
class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list  # set per server
    truncate: bool = False

    def do_GET(self):
        self.requests.append(self.path)
        if self.truncate:  # promise the whole file, send half of it, hang up: a partial download
            body = Path(self.directory, self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Fake files served on 127.0.0.1 and registered (md5) in SOURCES; downloads go to tmp_path/cache/data."""
    served = write_fake_data(tmp_path / "served")
    for key, src in list(data.SOURCES.items()):
        monkeypatch.setitem(data.SOURCES, key, dataclasses.replace(src, md5=data.md5(served / key[0] / key[1])))
    handler = type("Handler", (_Handler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.delenv("HWLIB_DATA_DIR", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HWLIB_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path / "cache"))
    yield dataclasses.make_dataclass("Mirror", ["served", "cache", "handler"])(served, tmp_path / "cache" / "data", handler)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _cache_files(cache: Path):
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_download_verifies_and_caches(mirror):
    dd = get_dataset("acl_sup", SEP)
    assert len(dd["train"]) == 12
    assert sorted(mirror.handler.requests) == ["/acl_arc/test.jsonl", "/acl_arc/train.jsonl"]
    assert _cache_files(mirror.cache) == ["acl_arc/test.jsonl", "acl_arc/train.jsonl"]  # no .part left behind
    get_dataset("acl_sup", SEP)
    assert len(mirror.handler.requests) == 2  # verified copies are reused


def test_corrupted_cached_file_is_fetched_again(mirror):
    get_dataset("agnews_sup", SEP)
    cached = mirror.cache / "ag_news" / "test.csv"
    cached.write_bytes(cached.read_bytes()[:-10])  # an interrupted copy
    assert len(get_dataset("agnews_sup", SEP)["train"]) == 18
    assert mirror.handler.requests == ["/ag_news/test.csv"] * 2
    assert cached.read_bytes() == (mirror.served / "ag_news" / "test.csv").read_bytes()


def test_wrong_bytes_are_refused_and_leave_no_file(mirror):
    (mirror.served / "acl_arc" / "train.jsonl").write_text(_acl_line(1) + "\n")  # not what SOURCES registered
    with pytest.raises(DataError, match=r"acl_arc/train\.jsonl .* has md5 [0-9a-f]{32}, expected [0-9a-f]{32}"):
        get_dataset("acl_sup", SEP)
    assert "acl_arc/train.jsonl" not in _cache_files(mirror.cache)
    assert not [f for f in _cache_files(mirror.cache) if f.endswith(".part")]


def test_partial_download_is_refused_and_leaves_no_file(mirror):
    mirror.handler.truncate = True
    with pytest.raises(DataError, match=r"semeval14_laptop/train\.json .* cut short: \d+ of \d+ bytes"):
        get_dataset("laptop_sup", SEP)
    assert _cache_files(mirror.cache) == []


def test_unreachable_server_names_the_file_and_hwlib_data_dir(mirror, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HWLIB_DATA_MIRROR", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(DataError, match=r"semeval14_restaurant/train\.json is not available locally.*HWLIB_DATA_DIR"):
        get_dataset("restaurant_sup", SEP)
    assert time.monotonic() - start < 30 and _cache_files(mirror.cache) == []


def test_missing_file_on_the_server_is_a_data_error(mirror):
    (mirror.served / "ag_news" / "test.csv").unlink()
    with pytest.raises(DataError, match=r"ag_news/test\.csv .*404"):
        get_dataset("agnews_fs", SEP)
    assert _cache_files(mirror.cache) == []


def test_every_dataset_has_a_title_and_other_names_pass_through():
    from hwlib.data import DATASET_NAMES, title

    assert [title(n) for n in ("acl_sup", "restaurant_sup", "agnews_sup")] == ["ACL-ARC", "restaurant", "AG News"]
    assert title("agnews_fs") == "AG News, few-shot"
    assert all(title(n) != n for n in DATASET_NAMES)  # a new task without a title fails here
    assert title("minilm+tapt:acl_sup") == "minilm+tapt:acl_sup"  # not a dataset: unchanged
