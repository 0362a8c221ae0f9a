"""The models layer: encoders by name (``encoders``) and the names of task-adapted ones (``tapt``), and what wraps
them: bottleneck adapters (``adapters``), LoRA through peft (``lora``), the classifier's pooling and loss (``heads``).
Imports only the data layer and ``hwlib.files`` below it."""
from hwlib.models.encoders import (  # noqa: F401
    DEFAULT_MODEL, LOCAL_MODELS, MODEL_NAMES, PAPER_MODELS, load_model, load_tokenizer, minilm_path, pretrained_dir,
    resolve,
)
