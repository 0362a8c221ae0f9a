"""hwlib: the code behind the book *Fine-tuning encoders and adapters*.

Layers, bottom up; a module imports only from its own layer or those below it (``tests/test_layers.py`` checks):

0. ``files``: the results root and the cache root (``$HWLIB_CACHE_DIR``), atomic JSON files.
1. ``data``: the course's datasets: ``sources`` (files and checksums), ``readers`` (file formats), ``tasks``
   (``get_dataset``, few-shot samples, fingerprints), ``stats`` (statistics and quirks, for the data chapter).
2. ``machine``: CPU ``flags``, the ``precision`` ``"auto"`` trains in (measured), a run's ``provenance``, ``peak``
   memory.
3. ``models``: ``encoders`` by name, the ``tapt`` name grammar, bottleneck ``adapters``, ``lora`` (peft), ``heads``
   (what the classifier reads; the class-weighted loss).
4. ``train``: ``config`` (``RunConfig``, the one list of run settings), ``inputs``, ``finetune`` (the Trainer),
   ``probe`` (a frozen-encoder linear probe), ``pretrain`` (task-adaptive MLM), ``record`` (what a run records),
   ``predictions`` (the per-example predictions a record keeps).
5. ``store``: one checked path/get/put per kind: ``runs``, ``pretrainings``, ``recipes``, ``summaries`` (bench and
   memory measurements), ``listing``.
6. ``runs``: load what is stored, else train when allowed: ``run``, ``pretrained``, ``grids``, ``sweeps``.
7. ``analysis`` (``report``, ``intervals``: the one rule for a paired comparison, ``paired``, ``power``, ``errors``,
   ``ablation``, ``paired_changes``, ``floors``, ``costs``, ``domain`` and ``domain_readings``: the TAPT experiment; the
   findings ledger: ``evidence``, ``correlation``, ``findings``, ``ledger``, ``ledger_task3``, ``claims``; the
   page: ``views``, ``style``, ``source``); beside it ``memory`` (the SymPy ``model``, the report's ``report`` and
   ``figures``, ``measure``, ``gpu``, ``calculator``) and ``speed`` (``flops``, ``bench``).
8. ``__main__``: the command line (``python -m hwlib --help``).
"""
__version__ = "0.1.0"
