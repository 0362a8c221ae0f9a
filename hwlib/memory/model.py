"""The memory it takes to fine-tune an encoder, as SymPy formulas: the report's estimate, then a corrected one.

Notation (as in the book): ``P`` parameters, ``L`` layers, ``H`` hidden size, ``H_ff`` feed-forward size, ``a`` heads,
``V`` vocabulary, ``m`` adapter size, ``b`` batch size, ``s`` sequence length, ``C`` classes. Bytes are counted
exactly; ``GB`` is 10**9 bytes, as in the report.

* the original report's own accounting is ``hwlib.memory.report``; tables and figures, ``hwlib.memory.figures``.
* ``encoder_parameters`` counts a BERT-style encoder exactly (embeddings, biases and LayerNorms included).
* ``state_bytes`` charges weights, gradients and optimizer states under a ``Precision`` recipe (ZeRO's 16 bytes per
  trained parameter, Hugging Face's 18, plain fp32).
* ``activation_bytes`` sums the tensors autograd saves for backward, listed one by one in ``LAYER``/``EMBEDDINGS``/
  ``HEAD`` for the Hugging Face BERT implementation with materialised ("eager") attention. In 16-bit with 1-byte
  dropout masks one layer reduces to Korthikanti et al.'s ``s b H (34 + 5 a s / H)`` (``korthikanti_layer_bytes``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

GB = 10**9
P, L, H, H_ff, a, V, m, b, s, C = sp.symbols("P L H H_ff a V m b s C", positive=True, integer=True)
n_pos, n_types = sp.symbols("n_pos n_types", positive=True, integer=True)

def adapter_parameters(hidden=H, size=m):
    """One bottleneck adapter: down (H m + m) and up (m H + H)."""
    return 2 * hidden * size + hidden + size


def total_adapter_parameters(layers=L, hidden=H, size=m):
    """Two adapters per layer (after attention and after the feed-forward block)."""
    return 2 * layers * adapter_parameters(hidden, size)


# --- parameters ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoder:
    """The shape of a BERT-style encoder classifier (BERT and RoBERTa share it)."""

    layers: int
    hidden: int
    heads: int
    vocab: int
    ffn: int
    max_positions: int = 512
    type_vocab: int = 2
    num_labels: int = 2

    def __post_init__(self):
        for k, v in vars(self).items():
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"Encoder.{k} must be a positive integer, got {v!r}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")

    def subs(self) -> dict:
        """Values for the symbols of this module."""
        return {L: self.layers, H: self.hidden, a: self.heads, V: self.vocab, H_ff: self.ffn,
                n_pos: self.max_positions, n_types: self.type_vocab, C: self.num_labels}

    @classmethod
    def from_hf(cls, config, num_labels: int | None = None) -> "Encoder":
        return cls(config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.vocab_size,
                   config.intermediate_size, config.max_position_embeddings, config.type_vocab_size,
                   num_labels or config.num_labels)


BERT_BASE = Encoder(layers=12, hidden=768, heads=12, vocab=30522, ffn=3072)  # bert-base-uncased
MINILM = Encoder(layers=6, hidden=384, heads=12, vocab=30522, ffn=1536)  # all-MiniLM-L6-v2, the embedded model
ROBERTA_BASE = Encoder(layers=12, hidden=768, heads=12, vocab=50265, ffn=3072, max_positions=514, type_vocab=1)
# The report's 24 layers at H = 3200, the multiple of 64 nearest its 3227.5, with BERT's head width 64 (a = 50).
BERT_3B = Encoder(layers=24, hidden=3200, heads=50, vocab=30522, ffn=4 * 3200)


def parameter_parts(pooler=True, head=False) -> dict:
    """The parameters of a BERT-style encoder by part, in the module's symbols. With ``H_ff = 4H`` the layers'
    weight matrices are the report's ``12 H^2 L``; everything else is what that estimate leaves out."""
    parts = {
        "layer weight matrices (Q, K, V, O, feed-forward)": L * (4 * H**2 + 2 * H * H_ff),
        "layer biases and LayerNorms": L * (4 * H + 4 * H + H_ff + H),
        "token embeddings": V * H,
        "position and token-type embeddings": (n_pos + n_types) * H,
        "embedding LayerNorm": 2 * H,
    }
    if pooler:
        parts["pooler"] = H**2 + H
    if head:
        parts["classifier"] = H * C + C
    return parts


def encoder_parameters(pooler=True, head=False):
    """Exact parameter count of a BERT-style encoder: with ``H_ff = 4H``, ``(V + n_pos + n_types + 2) H`` for the
    embeddings, ``12 H^2 + 13 H`` per layer, ``H^2 + H`` for the pooler and ``H C + C`` for the head."""
    return sum(parameter_parts(pooler, head).values())


# --- weights, gradients, optimizer states -----------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    """Bytes per parameter (trained and frozen weights, gradient, optimizer) and per saved activation element."""

    name: str
    weight: int  # a trained weight, master copy included
    frozen: int  # a frozen weight
    gradient: int
    optimizer: int  # Adam: two moments
    activation: int  # one element of a saved activation
    mask: int = 1  # one element of a dropout mask (bool on CUDA; CPU PyTorch keeps the input's dtype)


RECIPES = {
    # Rajbhandari et al. (ZeRO): fp16 weights and gradients, fp32 master weights, momentum and variance: 2+2+12.
    "mixed": Precision("mixed precision (ZeRO)", weight=2 + 4, frozen=2, gradient=2, optimizer=8, activation=2),
    # Hugging Face, "Model training anatomy": fp32 + fp16 weights (6), fp32 gradients (4), AdamW (8): 18.
    "mixed-hf": Precision("mixed precision (HF)", weight=6, frozen=6, gradient=4, optimizer=8, activation=2),
    "fp32": Precision("fp32", weight=4, frozen=4, gradient=4, optimizer=8, activation=4),
}
RECIPES["fp32-cpu"] = replace(RECIPES["fp32"], name="fp32 (CPU dropout masks)", mask=4)


def recipe(name: str) -> Precision:
    if name not in RECIPES:
        raise ValueError(f"unknown precision recipe {name!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[name]


def state_bytes(trainable, frozen, precision: str = "mixed") -> dict:
    """Weights, gradients and optimizer states: trained parameters pay all three, frozen ones their weights only."""
    r = recipe(precision)
    return {"weights": trainable * r.weight + frozen * r.frozen, "gradients": trainable * r.gradient,
            "optimizer": trainable * r.optimizer}


# --- activations saved for backward -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps for backward: its element count, its kind (sets its bytes) and when it is kept.

    ``full``/``adapter``: kept when everything trains / when only adapters (and the head) train. A frozen Linear
    needs its weight, not its input, to pass the gradient on, so its input is dropped. ``prefix``: computed before
    the first adapter, where nothing requires grad yet, so with adapters the first layer does not keep it.
    """

    what: str
    numel: sp.Expr
    kind: str  # "act" | "mask" | "stat" (fp32 LayerNorm mean/rstd, loss) | "index" (int64)
    full: bool = True
    adapter: bool = True
    prefix: bool = False


LAYER = (
    Saved("Q, K, V projections' input", s * b * H, "act", adapter=False, prefix=True),
    Saved("Q (for Q K^T)", s * b * H, "act", prefix=True),
    Saved("K (for Q K^T)", s * b * H, "act", prefix=True),
    Saved("softmax output", a * s**2 * b, "act", prefix=True),
    Saved("attention dropout mask", a * s**2 * b, "mask", prefix=True),
    Saved("attention probabilities (for x V)", a * s**2 * b, "act", prefix=True),
    Saved("V (for x V)", s * b * H, "act", prefix=True),
    Saved("attention output projection input", s * b * H, "act", adapter=False, prefix=True),
    Saved("attention output dropout mask", s * b * H, "mask", prefix=True),
    Saved("adapter 1 input", s * b * H, "act", full=False),
    Saved("adapter 1 ReLU output", s * b * m, "act", full=False),
    Saved("LayerNorm 1 input", s * b * H, "act"),
    Saved("LayerNorm 1 mean, rstd", 2 * s * b, "stat"),
    Saved("feed-forward input", s * b * H, "act", adapter=False),
    Saved("GELU input", s * b * H_ff, "act"),
    Saved("feed-forward output projection input", s * b * H_ff, "act", adapter=False),
    Saved("feed-forward dropout mask", s * b * H, "mask"),
    Saved("adapter 2 input", s * b * H, "act", full=False),
    Saved("adapter 2 ReLU output", s * b * m, "act", full=False),
    Saved("LayerNorm 2 input", s * b * H, "act"),
    Saved("LayerNorm 2 mean, rstd", 2 * s * b, "stat"),
)
EMBEDDINGS = (  # frozen with adapters, and nothing upstream requires grad: nothing kept
    Saved("input_ids, token_type_ids", 2 * b * s, "index", adapter=False),
    Saved("position_ids (a slice that keeps the whole buffer)", n_pos, "index", adapter=False),
    Saved("embedding LayerNorm input", s * b * H, "act", adapter=False),
    Saved("embedding LayerNorm mean, rstd", 2 * s * b, "stat", adapter=False),
    Saved("embedding dropout mask", s * b * H, "mask", adapter=False),
)
HEAD = (
    Saved("pooler input (the [CLS] view keeps the last layer's output)", s * b * H, "act", adapter=False),
    Saved("tanh output", b * H, "act"),
    Saved("classifier dropout mask", b * H, "mask"),
    Saved("classifier input", b * H, "act"),
    Saved("log-softmax output", b * C, "act"),
    Saved("labels", b, "index"),
    Saved("loss normaliser", sp.Integer(1), "stat"),
)
METHODS = ("full", "adapter")


def _bytes(item: Saved, r: Precision):
    return item.numel * {"act": r.activation, "mask": r.mask, "stat": 4, "index": 8}[item.kind]


def check_method(method):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def saved_tensors(group=LAYER, method="full", first=False, stats=True):
    """The items of ``group`` kept under ``method`` (``first``: the first layer, with adapters)."""
    check_method(method)
    return [t for t in group if getattr(t, method) and not (method == "adapter" and first and t.prefix)
            and (stats or t.kind != "stat")]


def layer_activation_bytes(precision="mixed", method="full", first=False, stats=True):
    """Bytes one transformer layer keeps for backward."""
    r = recipe(precision)
    return sp.expand(sum(_bytes(t, r) for t in saved_tensors(LAYER, method, first, stats)))


def korthikanti_layer_bytes():
    """Korthikanti et al. (2022), eq. (1): one layer in 16-bit, 1-byte masks, no parallelism."""
    return s * b * H * (34 + 5 * a * s / H)


def activation_bytes(precision="mixed", method="full", extras=True):
    """Bytes the whole classifier keeps for backward: L layers, plus embeddings and head when ``extras``."""
    r = recipe(precision)
    layers = L * layer_activation_bytes(precision, method)
    if method == "adapter":  # the first layer's attention runs before any trainable parameter
        layers += layer_activation_bytes(precision, method, first=True) - layer_activation_bytes(precision, method)
    if extras:
        layers += sum(_bytes(t, r) for t in saved_tensors(EMBEDDINGS, method) + saved_tensors(HEAD, method))
    return sp.expand(layers)


def symbolic_training_memory(method="full", precision="mixed") -> dict:
    """``training_memory`` in the encoder's symbols (``L, H, a, V, H_ff, n_pos, n_types, C``), the adapter size ``m``
    and ``b``, ``s``: the one set of expressions that the Python numbers and the book's calculator both come from."""
    check_method(method)
    base = encoder_parameters(pooler=True, head=True)
    head = H * C + C
    trainable, frozen = (base, 0) if method == "full" else (total_adapter_parameters() + head, base - head)
    out = {k: sp.expand(v) for k, v in state_bytes(trainable, frozen, precision).items()}
    out["activations"] = activation_bytes(precision, method)
    out["total"] = sum(out.values())  # an upper bound: activations and gradients are never all held at once
    out["peak"] = step_peak(out)
    return out


def training_memory(encoder: Encoder, method="full", precision="mixed", adapter_size=64) -> dict:
    """Weights, gradients, optimizer states and activations (the last in b and s) of fine-tuning ``encoder``; their
    sum ``total`` (an upper bound) and the step's ``peak`` (``step_peak``: what a GPU must hold)."""
    check_method(method)
    if not isinstance(adapter_size, int) or adapter_size <= 0:
        raise ValueError(f"adapter size must be a positive integer, got {adapter_size!r}")
    values = {**encoder.subs(), m: adapter_size}
    return {k: sp.expand(v.subs(values)) if k != "peak" else v.subs(values)
            for k, v in symbolic_training_memory(method, precision).items()}


def step_peak(mem: dict):
    """The high-water mark of a training step, from ``training_memory``'s parts: weights and optimizer state stay;
    going back through the layers frees each layer's activations as its gradients appear, so the sum of the two
    moves (near) linearly between all activations (start of backward) and all gradients (end): its peak is at an end.
    Transient buffers (the backward's temporaries) come on top."""
    return mem["weights"] + mem["optimizer"] + sp.Max(mem["activations"], mem["gradients"])


SYMBOLS = {str(x): x for x in (P, L, H, H_ff, a, V, m, b, s, C, n_pos, n_types)}


def evaluate(exprs: dict, **values) -> dict:
    """Numbers (float) from a dict of expressions, symbols given by name: ``evaluate(d, b=16, s=256)``."""
    unknown = sorted(set(values) - set(SYMBOLS))
    if unknown:
        raise ValueError(f"unknown symbol(s) {unknown}; choose from {', '.join(SYMBOLS)}")
    out = {k: sp.sympify(e).subs({SYMBOLS[n]: v for n, v in values.items()}) for k, e in exprs.items()}
    missing = sorted({str(x) for e in out.values() for x in e.free_symbols})
    if missing:
        raise ValueError(f"no value given for symbol(s) {missing}")
    return {k: float(e) for k, e in out.items()}
