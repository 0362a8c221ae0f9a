"""The chapters run under papermill with reader-chosen parameters: small configurations really train (into a
private results directory), and bad parameters stop in the first cell with a clear message."""
import json
import re
from pathlib import Path

import papermill as pm
import pytest

NB = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def trainable(results_dir, monkeypatch):
    monkeypatch.delenv("HWLIB_NO_TRAIN", raising=False)  # these runs are meant to train
    # ... in fp32 on every CPU: the chapters keep precision="auto" (the reader's own path and run keys), and auto is
    # told what to decide, so what these small runs give does not depend on whether this CPU has bf16
    monkeypatch.setenv("HWLIB_AUTO_PRECISION", "fp32")
    return results_dir


def _execute(name, tmp_path, **params):
    out = tmp_path / f"{name}-out.ipynb"
    pm.execute_notebook(str(NB / f"{name}.ipynb"), str(out), parameters=params, cwd=str(NB), progress_bar=False,
                        kernel_name="python3")
    return json.loads(out.read_text())


def _text(nb) -> str:
    parts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            parts += o.get("text", []) if isinstance(o.get("text"), list) else [o.get("text", "")]
            for key in ("text/plain", "text/markdown"):
                v = o.get("data", {}).get(key, "")
                parts += v if isinstance(v, list) else [v]
    return "".join(parts)


def _stored(results_dir):
    return [json.loads(p.read_text()) for p in sorted((results_dir / "runs").glob("*.json"))]


@pytest.mark.slow
def test_task3_trains_a_small_configuration_and_then_loads_it(trainable, tmp_path, monkeypatch):
    nb = _execute("task3", tmp_path, dataset="acl", seeds=[5], epochs=1, max_train_samples=32)
    runs = _stored(trainable)
    # full and adapter at the course's learning rate, and adapters at their own
    assert sorted(f"{r['config']['method']} {r['config']['learning_rate']}" for r in runs) == [
        "adapter 0.001", "adapter None", "full None"]
    assert all(r["config"]["dataset"] == "acl_sup" and r["config"]["max_train_samples"] == 32 for r in runs)
    # the chapter asks for precision="auto" (the reader's run keys) and auto was told fp32, on every CPU
    assert all(r["config"]["precision"] == "auto" and r["provenance"]["precision"] == "fp32" for r in runs)
    text = _text(nb)
    assert "not stored yet" not in text  # every run it asked for was trained, so no missing-runs note
    assert "acl_sup" in text and "adapter" in text
    # executed again, the chapter loads what is stored and trains nothing
    before = {p.name: p.stat().st_mtime_ns for p in (trainable / "runs").glob("*.json")}
    monkeypatch.setenv("HWLIB_NO_TRAIN", "1")
    nb = _execute("task3", tmp_path, dataset="acl", seeds=[5], epochs=1, max_train_samples=32)
    after = {p.name: p.stat().st_mtime_ns for p in (trainable / "runs").glob("*.json")}
    assert before == after
    assert "not stored yet" not in _text(nb)


@pytest.mark.slow
def test_task2_trains_a_small_configuration(trainable, tmp_path):
    _execute("task2", tmp_path, datasets_=["acl"], seeds=[5], epochs=1, max_train_samples=32)
    assert sorted(r["config"]["model"] for r in _stored(trainable)) == ["minilm", "minilm-scratch"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"dataset": "imdb"}, "unknown dataset 'imdb'"),
        ({"adapter_size": 0}, "adapter_size=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"seeds": []}, "seeds=[]"),
        ({"adapter_learning_rate": 0}, "adapter_learning_rate=0"),
    ],
)
@pytest.mark.slow
def test_bad_parameters_stop_in_the_first_cell(results_dir, tmp_path, params, message):
    with pytest.raises(pm.PapermillExecutionError) as err:
        _execute("task3", tmp_path, **params)
    assert message in str(err.value)
    assert not (results_dir / "runs").exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_task2_refuses_an_unknown_profile(results_dir, tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="profile='gpu'"):
        _execute("task2", tmp_path, profile="gpu")


@pytest.mark.slow
def test_recipes_chapter_sweeps_chooses_on_dev_and_trains_the_seeds(trainable, tmp_path):
    nb = _execute("recipes", tmp_path, dataset="acl", budget={"select_on_dev": True, "epochs": 2, "patience": 1},
                  grids={"full": {"learning_rate": [1e-4]}, "adapter": {"learning_rate": [1e-3], "pooling": ["mean", "cls"]}},
                  seeds=[1, 2], probe_datasets=["acl"], max_train_samples=32, max_eval_samples=32,
                  transfer={"restaurant": {"epochs": 1}}, transfer_methods=["full"], transfer_seeds=[1],
                  neighbours={"restaurant": {"full": {"learning_rate": [1e-4, 3e-4]}}}, neighbour_seeds=[1],
                  course_seeds=[1],
                  houlsby={"train_layernorm": [True]}, houlsby_seeds=[2], houlsby_chosen_seeds=[1, 2])
    runs = _stored(trainable)
    # the probe; the sweep (seed 1): one full, two adapter candidates; the chosen recipes on seed 2: full and
    # adapter; ACL-ARC's full recipe carried over to restaurant, seed 1, and its one neighbour there (lr 3e-4);
    # the adapters' recipe with its LayerNorms training, seed 2, and seed 1 as well if dev chooses it
    layernorm = sum(r["config"]["train_layernorm"] for r in runs)
    assert layernorm in (1, 2)
    assert sorted(r["config"]["method"] for r in runs) == ["adapter"] * (3 + layernorm) + ["full"] * 4 + ["probe"]
    assert all(r["config"]["select_on_dev"] and "selection" in r for r in runs)
    restaurant = sorted((r["config"]["method"], r["config"]["learning_rate"], r["config"]["epochs"])
                        for r in runs if r["config"]["dataset"] == "restaurant_sup")
    assert restaurant == [("full", 1e-4, 1), ("full", 3e-4, 1)]
    text = _text(nb)
    # the sweep, the chosen recipes' seeds, the carried runs and neighbours all trained: the one missing-runs note
    # is the course's baseline, which is the Task 2 chapter's to train, and it says so
    assert text.count("not stored yet") == 1
    assert "1 requested run(s) are not stored yet" in text and "run the Task 2 chapter with papermill" in text
    assert len(runs) == 8 + layernorm  # the neighbours load the carried run and train only the new one
    assert "train_layernorm: False → True" in text
    assert ("Dev chooses **train_layernorm True**" in text) == (layernorm == 2)
    assert ("Dev keeps the recipe" in text) == (layernorm == 1)
    # restaurant's own dev chooses between the carried rate and its neighbour; a chosen neighbour is already
    # stored on the carried runs' one seed, so choosing it trains nothing more
    assert "**restaurant, full.** Mean dev macro-F1 over seed 1" in text
    assert ("Restaurant's dev keeps the carried recipe" in text) != ("Dev chooses **learning_rate 0.0003**" in text)


def test_code_cells_fit_the_page_width():
    # the rendered book cuts code lines longer than this off at the right edge of the page
    too_long = []
    for path in sorted(NB.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                too_long += [f"{path.name} cell {i}: {line!r} ({len(line)} characters)"
                             for line in "".join(cell["source"]).splitlines() if len(line) > 88]
    assert not too_long, "code lines longer than 88 characters:\n" + "\n".join(too_long)


SHOWN = {"task3": 1, "recipes": 2, "tapt": 1}  # blocks of the library's own source each chapter shows


def test_the_library_code_the_chapters_show_fits_the_page_width():
    """``hwlib.analysis.source.show`` blocks in the stored chapters: there, and within 88 columns."""
    from hwlib.analysis import source

    too_long, shown = [], {}
    for path in sorted(NB.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                md = "".join(out.get("data", {}).get("text/markdown", []))
                if md.startswith("```python"):
                    shown[path.stem] = shown.get(path.stem, 0) + 1
                    too_long += [f"{path.name} cell {i}: {line!r}" for line in source.too_wide(md)]
    assert not too_long, "shown source lines longer than 88 characters:\n" + "\n".join(too_long)
    assert shown == SHOWN


@pytest.mark.slow
def test_tapt_chapter_pretrains_fine_tunes_both_arms_and_gives_a_verdict(trainable, tmp_path, monkeypatch):
    from hwlib import runs as E

    monkeypatch.setenv("HWLIB_CACHE_DIR", str(tmp_path / "cache"))  # pretrained encoders: a private cache
    recipe = {"model": "minilm", "method": "full", "dataset": "acl_sup", "dev_macro_f1": 0.5, "candidates": [],
              "settings": {"learning_rate": 1e-4, "pooling": "mean", "select_on_dev": True}}
    E.write_recipes("tuned", [recipe], "sweep ...")
    tiny = "minilm+tapt:acl_sup:e2:n64"  # 4 optimizer steps, the first in warm-up
    arms = {"MiniLM": "minilm", "TAPT": tiny}
    nb = _execute("tapt", tmp_path, arms=arms, tapt="TAPT", control=None, seeds=[1, 2],
                  others={"restaurant": {"arms": arms, "tapt": "TAPT", "control": None}}, other_seeds=[1],
                  changes={"epochs": 1, "max_train_samples": 32, "max_eval_samples": 32})
    (pre,) = [json.loads(p.read_text()) for p in (trainable / "pretrain").glob("*.json")]
    assert pre["name"] == tiny and pre["data"]["train_texts"] == 64
    assert pre["heldout_mlm_loss"]["after"] < pre["heldout_mlm_loss"]["before"]
    runs = _stored(trainable)
    assert sorted((r["config"]["dataset"], r["config"]["model"], r["config"]["seed"]) for r in runs) == [
        ("acl_sup", "minilm", 1), ("acl_sup", "minilm", 2), ("acl_sup", tiny, 1), ("acl_sup", tiny, 2),
        ("restaurant_sup", "minilm", 1), ("restaurant_sup", tiny, 1)]
    # restaurant has no recipe of its own: ACL-ARC's, carried over as the recipes chapter does
    assert all(r["config"]["pooling"] == "mean" and r["config"]["learning_rate"] == 1e-4 for r in runs)
    text = _text(nb)
    assert "not stored yet" not in text and "**TAPT** minus **MiniLM**" in text and "over 2 seeds" in text
    assert "chosen on ACL-ARC's dev split and carried over" in text
    assert "Domain pretraining on restaurant" in text
    assert "ACL-ARC (2 seeds): TAPT minus MiniLM" in text and "restaurant (1 seed): TAPT minus" in text


@pytest.mark.slow
def test_tapt_chapter_refuses_an_arm_it_does_not_have(results_dir, tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="'TAPT' is not one of the arms"):
        _execute("tapt", tmp_path, arms={"MiniLM": "minilm"}, tapt="TAPT", control=None)
    with pytest.raises(pm.PapermillExecutionError, match="unknown dataset name"):
        _execute("tapt", tmp_path, arms={"MiniLM": "minilm", "TAPT": "minilm+tapt:acl"}, tapt="TAPT", control=None)
    with pytest.raises(pm.PapermillExecutionError, match="write BASE\\+tapt:TASK"):
        _execute("tapt", tmp_path, arms={"MiniLM": "minilm", "TAPT": "minilm+tapt"}, tapt="TAPT", control=None)
    with pytest.raises(pm.PapermillExecutionError, match="unknown dataset 'news'"):
        _execute("tapt", tmp_path, others={"news": None})
    with pytest.raises(pm.PapermillExecutionError, match="no TAPT experiment for 'laptop_sup'"):
        _execute("tapt", tmp_path, others={"laptop_sup": None})
    assert not (results_dir / "runs").exists()


def test_the_tapt_chapter_defaults_are_the_arms_the_claims_chapter_reads():
    import ast

    from hwlib.analysis import domain
    from hwlib import runs as E

    cells = json.loads((NB / "tapt.ipynb").read_text(encoding="utf-8"))["cells"]
    (params,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    values = {}
    for node in ast.parse("".join(params["source"])).body:
        if isinstance(node, ast.Assign):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    # arms=None: the chapter runs domain.EXPERIMENTS[dataset], whose ACL-ARC arms the claims chapter reads
    assert values["arms"] is None and E.resolve_datasets(values["dataset"]) == ["acl_sup"]
    assert domain.EXPERIMENTS["acl_sup"]["arms"] == domain.ARMS and values["base"] == domain.BASE
    assert (domain.EXPERIMENTS["acl_sup"]["tapt"], domain.EXPERIMENTS["acl_sup"]["control"]) == (domain.TAPT,
                                                                                               domain.CONTROL)
    assert {E.resolve_datasets(k)[0] for k in values["others"]} == set(domain.EXPERIMENTS) - {"acl_sup"}


def test_the_recipes_chapter_carries_over_what_the_claims_chapter_reads():
    import ast

    from hwlib import runs as E

    cells = json.loads((NB / "recipes.ipynb").read_text(encoding="utf-8"))["cells"]
    (params,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse("".join(params["source"])).body
              if isinstance(n, ast.Assign)}
    assert values["transfer"] == E.TRANSFER and values["transfer_seeds"] == E.TRANSFER_SEEDS
    assert E.resolve_datasets(values["transfer_from"]) == [E.TRANSFER_FROM]


def test_the_chapters_plans_check_their_parameters_without_papermill():
    """The chapters' set-up cells are one call each (``runs.task3_plan``, ``domain.plan``): reachable, and strict,
    without executing a notebook."""
    from hwlib import runs as E
    from hwlib.analysis import domain

    names, configs = E.task3_plan("acl", "minilm", [1, 2], 1e-3, adapter_size=64, epochs=3)
    assert names == ["acl_sup"]
    assert [(c.method, c.seed, c.learning_rate) for c in configs["adapter_lr"]] == [("adapter", 1, 1e-3),
                                                                                   ("adapter", 2, 1e-3)]
    assert {c.method for c in configs["course"]} == {"full", "adapter"} and len(configs["course"]) == 4
    with pytest.raises(ValueError, match="adapter_size"):
        E.task3_plan("acl", "minilm", [1], 1e-3, adapter_size=0)
    with pytest.raises(ValueError, match="unknown dataset 'news'"):
        E.task3_plan("news", "minilm", [1], 1e-3)
    exp = domain.plan("acl", others={"restaurant": None}, seeds=[1, 2])
    assert list(exp["tasks"]) == ["acl_sup", "restaurant_sup"] and exp["settings"]["pooling"] == "mean"
    with pytest.raises(ValueError, match="'TAPT' is not one of the arms"):
        domain.plan("acl", arms={"MiniLM": "minilm"}, tapt="TAPT")
    with pytest.raises(ValueError, match="write BASE\\+tapt:TASK"):
        domain.plan("acl", arms={"MiniLM": "minilm", "TAPT": "minilm+tapt"}, tapt="TAPT")


def test_figures_are_drawn_at_the_column_width():
    """Every figure a chapter stores is drawn at most the text column's width (7.4 inches at 100 dpi, with the
    saved figure's margin), so the page shows it unscaled and its 9-pt text stays 9 pt."""
    import base64
    import struct

    too_wide = []
    for path in sorted(NB.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    width = struct.unpack(">I", base64.b64decode(png)[16:20])[0]
                    if width > 760:
                        too_wide.append(f"{path.name} cell {i}: {width} px")
    assert not too_wide, "figures wider than the column:\n" + "\n".join(too_wide)


def test_no_plotting_code_asks_for_text_under_9_pt():
    import re

    from hwlib.analysis.style import FIGURE, MIN_FONT_PT

    assert all(v >= MIN_FONT_PT for k, v in FIGURE.items() if "size" in k and "figsize" not in k)
    small = []
    for path in sorted((NB.parent / "hwlib").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            small += [f"{path.name}:{n}: {line.strip()}" for m in re.finditer(r"fontsize=(\d+(?:\.\d+)?)", line)
                      if float(m.group(1)) < MIN_FONT_PT]
    assert not small, "\n".join(small)


def test_tables_show_an_empty_cell_as_a_dash_and_whole_numbers_whole():
    import numpy as np
    import pandas as pd

    from hwlib.analysis.style import EMPTY_CELL, table_html

    frame = pd.DataFrame({"score": [61.25, np.nan], "rank": [64.0, np.nan], "loss": [0.5, 0.25],
                          "rows": pd.array([3, None], dtype="Int64")}, index=["a", "b"])
    html = table_html(frame)
    assert "NaN" not in html and "NA" not in html and html.count(f"<td>{EMPTY_CELL}</td>") == 3
    assert "<td>64</td>" in html and "<td>0.25</td>" in html and "<td>61.25</td>" in html
    assert frame["rank"].dtype == float  # the frame shown is not changed


def test_tables_name_datasets_as_the_book_does():
    import pandas as pd

    from hwlib.analysis.style import table_html

    frame = pd.DataFrame({"trained on": ["agnews_sup", "minilm"], "score": [1.5, 2.5]},
                         index=pd.MultiIndex.from_tuples([("acl_sup", "full"), ("restaurant_fs", "lora")]))
    html = table_html(frame)
    assert not any(n in html for n in ("acl_sup", "agnews_sup", "restaurant_fs")), html
    assert all(t in html for t in ("ACL-ARC", "AG News", "restaurant, few-shot", "minilm", "full"))
    assert table_html(frame.T).count("ACL-ARC") == 1 and frame.index[0][0] == "acl_sup"  # column labels too; unchanged


def test_no_stored_table_shows_nan():
    """Every chapter's tables go through ``style.table_html`` (``report.setup_notebook`` or ``style.book_tables``):
    a stored HTML table with ``NaN`` or ``<NA>`` in a cell is a chapter that skipped it."""
    found = []
    for path in sorted(NB.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                html = "".join(out.get("data", {}).get("text/html", []))
                if "<td>NaN</td>" in html or "<td>&lt;NA&gt;</td>" in html:
                    found.append(f"{path.name} cell {i}")
    assert not found, "tables with NaN cells: " + ", ".join(found)


CHAPTERS = ["task1_data", "task2", "memory", "task3", "recipes", "tapt", "claims"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_teaches_and_ends_with_exercises_one_solved_by_code(name):
    """A chapter opens with what it teaches, ends with a summary and at least three exercises, and one exercise's
    solution is a code cell (folded on the page) whose stored output is a result, not an error: ``pytest --nbval``
    executes that cell again and compares, so a solution that stops working fails the suite."""
    cells = json.loads((NB / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    text = ["".join(c["source"]) for c in cells]
    opening = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    assert re.search(r"you will learn|what .* teaches|objectives", text[opening] + text[opening + 1], re.I), name
    start = next(i for i, t in enumerate(text) if cells[i]["cell_type"] == "markdown" and "## Exercises" in t)
    assert any("## Summary" in t for t in text[:start + 1]), f"{name}: no summary before the exercises"
    exercises = re.findall(r"^(\d+)\. ", text[start].split("## Exercises", 1)[1], re.M)
    assert len(exercises) >= 3, f"{name}: {len(exercises)} exercises"
    solved = [c for c in cells[start + 1:] if c["cell_type"] == "code" and "hide-cell" in c["metadata"].get("tags", [])]
    assert solved, f"{name}: no exercise solved by a code cell"
    for c in solved:
        assert c["outputs"] and not any(o["output_type"] == "error" for o in c["outputs"]), name


def test_no_stored_output_shows_an_objects_repr_instead_of_its_content():
    # an empty Markdown note (runs.missing_note when nothing is missing) renders as "<IPython.core.display.Markdown
    # object>" on the page: notes that exist only sometimes go through views.note, which shows nothing when empty
    for path in sorted(NB.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                shown = "".join(data.get("text/markdown") or data.get("text/html") or data.get("image/png") or
                                data.get("text/plain") or out.get("text") or "")
                assert not re.search(r"<IPython\.core\.display\.\w+ object>|object at 0x", shown), \
                    f"{path.name} cell {i} shows {shown[:60]!r}"
