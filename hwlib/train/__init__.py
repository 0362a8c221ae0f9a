"""The training layer: a run's settings (``config.RunConfig``), its inputs (``inputs``), fine-tuning with the
Trainer (``finetune``), the linear probe (``probe``), task-adaptive pretraining (``pretrain``), and the run record
(``record``, ``predictions``). It trains and returns records; storing them is ``hwlib.store``'s, and deciding
whether to train, ``hwlib.runs``'."""
from hwlib.train.config import METHODS, POOLINGS, PRECISIONS, TRAINED, RunConfig  # noqa: F401
from hwlib.train.finetune import Evaluations, build_trainer, prepare, training_arguments  # noqa: F401
# (the function `finetune` stays in its module: exported here it would hide the module `hwlib.train.finetune`)
from hwlib.train.inputs import load_splits, tokenize  # noqa: F401
