"""The run store: stable keys, round trips, atomic writes, and stored files that cannot be used are never used
silently: not JSON, fields missing, another schema, or trained on data that differs from the data on disk now."""
import json
import os
import re
import shutil

import pytest

from hwlib.store import runs as results
from hwlib.train.config import RunConfig
from hwlib.data import fingerprint
from hwlib.store.runs import REQUIRED, ResultStore, config_key
from hwlib.files import StoreError
from hwlib.runs.load_or_train import run

DATA = {"files": {"semeval14_restaurant/test.json": "a" * 32, "semeval14_restaurant/train.json": "b" * 32},
        "modified": []}


def _record(accuracy=0.5):
    return {**{k: {} for k in REQUIRED}, "metrics": {"accuracy": accuracy}}


def test_key_is_stable_and_config_sensitive():
    a = RunConfig(dataset="acl_sup", seed=1)
    assert config_key(a) == config_key(RunConfig(dataset="acl_sup", seed=1))
    assert config_key(a) != config_key(a.replace(seed=2))
    assert config_key(a) != config_key(a.replace(method="adapter"))
    assert config_key(a) != config_key(a.replace(learning_rate=1e-4))
    assert config_key(a) == config_key(a.replace(adapter_size=8))  # no adapters in full fine-tuning: same run


def test_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig(dataset="restaurant_sup", method="adapter", seed=3)
    assert store.get(cfg, DATA) is None
    path = store.put(cfg, _record(), DATA)
    assert path.name.startswith("minilm__restaurant_sup__adapter__s3__")
    got = store.get(cfg, DATA)
    assert got["metrics"] == {"accuracy": 0.5} and got["key"] == config_key(cfg) and got["data"] == DATA
    assert store.get(cfg.replace(seed=4), DATA) is None
    assert len(store.all()) == 1


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    cfg = RunConfig()

    def broken_dump(obj, f, **kw):
        f.write('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(results.json, "dump", broken_dump)
    with pytest.raises(KeyboardInterrupt):
        store.put(cfg, _record(), DATA)
    assert os.listdir(tmp_path) == []
    assert store.get(cfg, DATA) is None


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_text(p.read_text()[:40]), "is not valid JSON"),
    (lambda p: p.write_text("[1, 2]"), "holds a JSON list, not an object"),
    (lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "metrics"})),
     r"lacks the field\(s\) \['metrics'\]"),
    (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "schema": 1})), "has schema 1, but this hwlib"),
])
def test_an_unusable_run_file_names_the_file_and_the_way_out(tmp_path, damage, message):
    store = ResultStore(tmp_path)
    cfg = RunConfig(seed=2)
    path = store.put(cfg, _record(), DATA)
    damage(path)
    with pytest.raises(StoreError, match=message) as err:
        store.get(cfg, DATA)
    text = str(err.value)
    assert str(path) in text and "Remove" in text and "git checkout" in text
    with pytest.raises(StoreError, match=re.escape(str(path))):
        store.all()


def test_a_run_trained_on_other_data_is_not_reused(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig(seed=2)
    store.put(cfg, _record(), DATA)
    now = {**DATA, "files": {**DATA["files"], "semeval14_restaurant/test.json": "c" * 32}}
    with pytest.raises(StoreError, match=r"differs from the files on disk now \(semeval14_restaurant/test.json: "
                                         r"stored md5 \['a+'\], now \['c+'\]\).*retrain"):
        store.get(cfg, now)


def test_runs_on_modified_data_are_stored_apart(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig(seed=2)
    modified = {"files": {**DATA["files"], "semeval14_restaurant/test.json": "c" * 32},
                "modified": ["semeval14_restaurant/test.json"]}
    assert store.path(cfg, modified) != store.path(cfg, DATA)
    store.put(cfg, _record(0.9), modified)
    assert store.get(cfg, DATA) is None  # the original data's run is not replaced or shadowed
    assert store.get(cfg, modified)["data"]["modified"] == ["semeval14_restaurant/test.json"]


@pytest.fixture
def cut_agnews(tmp_path, monkeypatch):
    """A copy of the real data whose ag_news/test.csv is cut at a line boundary (7,000 of 7,600 rows)."""
    src = os.environ.get("HWLIB_DATA_DIR")
    if not src:
        pytest.skip("needs the real data in HWLIB_DATA_DIR")
    root = tmp_path / "data"
    shutil.copytree(src, root)
    csv = root / "ag_news" / "test.csv"
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:7000]))
    monkeypatch.setenv("HWLIB_DATA_DIR", str(root))
    return csv


def test_a_cut_data_file_is_refused_and_a_stored_run_is_not_shown_for_it(cut_agnews, results_dir, monkeypatch):
    from hwlib.data import DataError, SOURCES

    cfg = RunConfig(dataset="agnews_sup")
    with pytest.raises(DataError) as err:
        run(cfg, train=False)
    text = str(err.value)
    assert str(cut_agnews) in text and SOURCES[("ag_news", "test.csv")].md5 in text
    assert "HWLIB_ALLOW_MODIFIED_DATA=1" in text
    # opted out: the data is used, marked as modified, and the runs of the original data are not offered for it
    monkeypatch.setenv("HWLIB_ALLOW_MODIFIED_DATA", "1")
    with pytest.warns(UserWarning, match="using modified data"):
        fp = fingerprint("agnews_sup")
    assert fp["modified"] == ["ag_news/test.csv"]
    original = {"files": {"ag_news/test.csv": SOURCES[("ag_news", "test.csv")].md5}, "modified": []}
    ResultStore().put(cfg, _record(), original)
    assert run(cfg, train=False) is None


def test_a_benchmark_summary_is_stored_with_its_provenance_and_read_back(results_dir):
    from hwlib.store.summaries import bench_path, load_bench, store_bench

    assert load_bench("adapter_step") is None
    store_bench(bench_path("adapter_step"), {"adapter_step_speedup": 1.4}, "python bench/adapter_step.py")
    stored = load_bench("adapter_step")
    assert stored["summary"] == {"adapter_step_speedup": 1.4} and stored["command"] == "python bench/adapter_step.py"
    assert {"device", "date", "torch", "hwlib"} <= set(stored["provenance"])
    assert [p.name for p in (results_dir / "bench").iterdir()] == ["adapter_step.json"]  # no temporary file left


def test_run_files_have_portable_names_for_every_model_name(tmp_path):
    from hwlib.train.config import RunConfig
    from hwlib.store.runs import ResultStore

    store = ResultStore(tmp_path)
    for model in ("allenai/scibert_scivocab_uncased", "minilm+tapt:agnews_sup:e5:n1688"):
        name = store.path(RunConfig(model=model), DATA).name
        assert not set(name) & set('/:\\*?"<>|'), name  # a checkout on Windows cannot hold these
    assert store.path(RunConfig(model="minilm+tapt:acl_sup:e5"), DATA).name.startswith("minilm+tapt_acl_sup_e5__")


@pytest.mark.parametrize("kind", ["pretraining record", "recipe file", "benchmark summary", "GPU memory measurements"])
def test_every_kind_the_store_keeps_reports_a_bad_file_the_same_way(results_dir, kind):
    """Pretrainings, recipes, bench summaries and memory measurements: one checked read (``hwlib.files.read_json``),
    one error naming the file and how to recover, for a cut file and for a file without the fields."""
    from hwlib.models.tapt import parse
    from hwlib.store import pretrainings, recipes, summaries

    cfg = parse("minilm+tapt:acl_sup:e5")
    where, read = {"pretraining record": (pretrainings.path(cfg), lambda: pretrainings.get(cfg)),
                   "recipe file": (recipes.path("tuned"), lambda: recipes.read("tuned")),
                   "benchmark summary": (summaries.bench_path("threads"), lambda: summaries.load_bench("threads")),
                   "GPU memory measurements": (summaries.memory_path(), summaries.load_memory)}[kind]
    assert read() is None  # nothing stored: nothing to load, no error
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text('{"cut')
    with pytest.raises(StoreError, match=re.escape(f"{kind} {where} is not valid JSON")) as err:
        read()
    assert f"Remove {where}" in str(err.value)
    where.write_text("{}")
    with pytest.raises(StoreError, match=re.escape(f"{kind} {where} lacks the field(s)")):
        read()
