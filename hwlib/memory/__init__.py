"""Memory: the SymPy model of what fine-tuning holds (``model``), the report's own accounting (``report``), tables
and figures (``figures``); measuring it on real models (``measure``, on a CPU) and on a GPU (``gpu``)."""
from hwlib.memory.model import (  # noqa: F401
    GB, P, L, H, H_ff, a, V, m, b, s, C, n_pos, n_types, adapter_parameters, total_adapter_parameters, Encoder,
    BERT_BASE, MINILM, ROBERTA_BASE, BERT_3B, parameter_parts, encoder_parameters, Precision, RECIPES, recipe,
    state_bytes, Saved, LAYER, EMBEDDINGS, HEAD, METHODS, check_method, saved_tensors, layer_activation_bytes,
    korthikanti_layer_bytes, activation_bytes, training_memory, step_peak, SYMBOLS, evaluate
)
from hwlib.memory.report import (  # noqa: F401
    REPORT, REPORT_BYTES, report_hidden_size, report_memory, report_figures
)
from hwlib.memory.figures import (  # noqa: F401
    sweep, COMPONENTS, plot_stacked
)
