"""The chapters' helpers: the command a missing-runs note prints trains exactly what is missing."""
import shlex

import pytest

from hwlib import report as R
from hwlib.__main__ import configs, parser
from hwlib.train import RunConfig


@pytest.mark.parametrize("missing", [
    R.book_configs(["minilm"], ["adapter"], ["acl_sup", "restaurant_sup"], [3, 1], learning_rate=1e-3),
    R.book_configs(["minilm", "minilm-scratch"], ["full"], ["agnews_sup"], [2], epochs=1, max_train_samples=32),
    [RunConfig(seed=2, group_by_length=False)],
])
def test_grid_command_covers_the_missing_runs(missing):
    cmd = R.grid_command(missing)
    argv = shlex.split(cmd)
    assert argv[:4] == ["python", "-m", "hwlib", "grid"]
    assert set(configs(parser().parse_args(argv[3:]))) == set(missing)
    assert cmd in R.missing_note(missing)


def test_no_missing_runs():
    assert R.missing_note([]) == "All requested runs are stored."


@pytest.mark.parametrize("bad", [0, -1e-3, 1.5, "1e-3", True])
def test_bad_adapter_learning_rate_is_refused(bad):
    with pytest.raises(ValueError, match=f"adapter_learning_rate={bad!r}"):
        R.validate(adapter_learning_rate=bad)
