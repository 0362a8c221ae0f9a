"""The run store: stable keys, round trips, atomic writes."""
import json
import os

import pytest

from hwlib import results
from hwlib.results import ResultStore, config_key
from hwlib.train import RunConfig


def test_key_is_stable_and_config_sensitive():
    a = RunConfig(dataset="acl_sup", seed=1)
    assert config_key(a) == config_key(RunConfig(dataset="acl_sup", seed=1))
    assert config_key(a) != config_key(a.replace(seed=2))
    assert config_key(a) != config_key(a.replace(method="adapter"))
    assert config_key(a) != config_key(a.replace(learning_rate=1e-4))


def test_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig(dataset="restaurant_sup", method="adapter", seed=3)
    assert store.get(cfg) is None
    path = store.put(cfg, {"config": {"x": 1}, "metrics": {"accuracy": 0.5}})
    assert path.name.startswith("minilm__restaurant_sup__adapter__s3__")
    got = store.get(cfg)
    assert got["metrics"] == {"accuracy": 0.5} and got["key"] == config_key(cfg)
    assert store.get(cfg.replace(seed=4)) is None
    assert len(store.all()) == 1


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    cfg = RunConfig()

    def broken_dump(obj, f, **kw):
        f.write('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(results.json, "dump", broken_dump)
    with pytest.raises(KeyboardInterrupt):
        store.put(cfg, {"metrics": {}})
    assert os.listdir(tmp_path) == []
    assert store.get(cfg) is None


def test_old_schema_is_not_served(tmp_path):
    store = ResultStore(tmp_path)
    cfg = RunConfig()
    store.put(cfg, {"metrics": {}})
    p = store.path(cfg)
    rec = json.loads(p.read_text())
    rec["schema"] = -1
    p.write_text(json.dumps(rec))
    assert store.get(cfg) is None
