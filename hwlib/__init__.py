"""hwlib: the code behind the book *Fine-tuning encoders and adapters*.

One concept per module: ``data`` (the course's datasets), ``datastats`` (their statistics and quirks), ``models``
(encoders by name), ``adapters`` (bottleneck adapters), ``lora`` (LoRA through peft), ``heads`` (what the classifier
reads: [CLS] pooler or mean pooling; class-weighted loss), ``probe`` (the frozen-encoder linear probe), ``pretrain``
(task-adaptive MLM pretraining), ``config`` (``RunConfig``, the one list of run settings),
``precision`` (what ``precision="auto"`` trains in, measured), ``train`` (Trainer fine-tuning; ``run`` loads or
trains), ``record`` (what a stored run records), ``predictions`` (the per-example predictions a record keeps),
``results`` (the run store, and the benchmarks' summaries), ``intervals`` (the one rule for a paired comparison),
``experiments`` (which runs the chapters show, and collecting them), ``report`` (tables and figures from stored
runs), ``paired`` (two arms over the same seeds), ``power`` (how many seeds would decide), ``errors`` (what the
classes do, from the stored predictions), ``ablation`` (reading a sweep: what each change buys), ``costs``
(what training and serving cost), ``claims`` (the report's claims against our runs), ``memory`` (the symbolic memory
model), ``memory_measure`` (measuring what it predicts) and ``memory_gpu`` (measuring it on a GPU), ``flops`` and
``bench`` (benchmark helpers).
"""
__version__ = "0.1.0"
