"""Load or train: the only layer that asks the store and then trains. ``run`` (one configuration), ``run_all``
(many, side by side), ``pretrained.checkpoint`` (a task-adapted encoder), the chapters' grids (``grids``) and the
sweeps that choose recipes on dev (``sweeps``)."""
from hwlib.runs.grids import (  # noqa: F401
    BATCHING_DATASETS, BOOK_DATASETS, PRESETS, PROFILES, TRANSFER, TRANSFER_FROM, TRANSFER_SEEDS, batching_configs,
    book_configs, collect, grid_commands, missing_note, wrap_command, precision_configs, resolve_datasets, task2_configs,
    task3_configs, task3_plan, train_missing_default, validate,
)
from hwlib.runs.load_or_train import run, run_all  # noqa: F401
from hwlib.runs.sweeps import (  # noqa: F401
    carried_recipes, choose_recipes, neighbour_configs, parse_vary, recipe_configs, sweep_configs, transferred_configs, tuned_configs,
)
from hwlib.store.listing import stored_groups  # noqa: F401
from hwlib.store.recipes import stored_recipes  # noqa: F401
from hwlib.store.recipes import write as write_recipes  # noqa: F401
