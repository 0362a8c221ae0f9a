"""hwlib: the code behind the book *Fine-tuning encoders and adapters*.

One concept per module: ``data`` (the course's datasets), ``datastats`` (their statistics and quirks), ``models``
(encoders by name), ``adapters`` (bottleneck adapters), ``train`` (Trainer fine-tuning), ``results`` (the run store),
``memory`` (the symbolic memory model), ``memory_measure`` (measuring what it predicts) and ``memory_gpu``
(measuring it on a GPU), ``report`` (tables and
figures from stored runs), ``claims`` (the report's claims against our runs), ``bench`` (benchmark helpers).
"""
__version__ = "0.1.0"
