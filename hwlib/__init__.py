"""hwlib: the code behind the book *Fine-tuning encoders and adapters*.

One concept per module: ``data`` (the course's datasets), ``models`` (encoders by name), ``adapters`` (bottleneck
adapters), ``train`` (Trainer fine-tuning, stored runs), ``results`` (the run store), ``memory`` (the symbolic memory
model), ``report`` (tables and figures for the book).
"""
__version__ = "0.1.0"
