"""The memory chapter's calculator, for a static page with no kernel: ``symbolic_training_memory``'s SymPy expressions
printed to JavaScript by SymPy's own code printer (``sympy.printing.jscode``), so that the page computes from the
library's formulas, not from a copy of them.

``javascript()`` defines ``window.hwlibMemory(args)``. Its argument names are ``hwlib.memory.Encoder``'s fields
(``layers``, ``hidden``, ``heads``, ``vocab``, ``ffn`` required; ``max_positions``, ``type_vocab``, ``num_labels``
with ``Encoder``'s defaults) plus ``method`` (``full`` or ``adapter``), ``precision`` (a recipe of
``hwlib.memory.RECIPES``), ``adapter_size``, ``b`` and ``s``; its result has the keys of ``training_memory``
(``weights``, ``gradients``, ``optimizer``, ``activations``, ``total``, ``peak``), in bytes. A bad argument throws an
``Error`` that names it and what is accepted. ``widget()`` is the page's form around it: presets, inputs, the
components and the step peak as numbers and as a stacked bar.
"""
from __future__ import annotations

import dataclasses
import json

import sympy as sp

from hwlib.memory import model

PRESETS = {"MiniLM": model.MINILM, "BERT-base": model.BERT_BASE, "RoBERTa-base": model.ROBERTA_BASE,
           "the report's 3B (BERT_3B)": model.BERT_3B}
KEYS = ("weights", "gradients", "optimizer", "activations", "total", "peak")
# the JavaScript names of the formulas' symbols, in the order of the generated functions' arguments
ARGS = (("layers", model.L), ("hidden", model.H), ("heads", model.a), ("vocab", model.V), ("ffn", model.H_ff),
        ("max_positions", model.n_pos), ("type_vocab", model.n_types), ("num_labels", model.C),
        ("adapter_size", model.m), ("b", model.b), ("s", model.s))


def _function(method: str, precision: str) -> str:
    exprs = model.symbolic_training_memory(method, precision)
    params = ", ".join(str(sym) for _, sym in ARGS)
    body = ",\n      ".join(f"{k}: {sp.jscode(exprs[k])}" for k in KEYS)
    return f"function ({params}) {{\n    return {{\n      {body}\n    }};\n  }}"


def javascript() -> str:
    """The source of ``window.hwlibMemory``: one generated function per method and precision recipe, and the
    checks of its arguments."""
    table = ",\n".join(f"  {json.dumps(f'{meth}/{prec}')}: {_function(meth, prec)}"
                       for meth in model.METHODS for prec in model.RECIPES)
    defaults = {f.name: f.default for f in dataclasses.fields(model.Encoder) if f.default is not dataclasses.MISSING}
    required = [f.name for f in dataclasses.fields(model.Encoder) if f.default is dataclasses.MISSING]
    return f"""(function () {{
const FORMULAS = {{
{table}
}};
const REQUIRED = {json.dumps(required + ["b", "s"])};
const DEFAULTS = {json.dumps({**defaults, "method": "full", "precision": "mixed", "adapter_size": 64})};
const METHODS = {json.dumps(list(model.METHODS))};
const RECIPES = {json.dumps(list(model.RECIPES))};
function hwlibMemory(args) {{
  const a = Object.assign({{}}, DEFAULTS, args || {{}});
  for (const k of REQUIRED) {{
    if (!(k in (args || {{}}))) throw new Error("hwlibMemory: " + k + " is required (required: " + REQUIRED.join(", ") + ")");
  }}
  const known = REQUIRED.concat(Object.keys(DEFAULTS));
  for (const k of Object.keys(args || {{}})) {{
    if (!known.includes(k)) throw new Error("hwlibMemory: unknown argument " + k + "; accepted: " + known.join(", "));
  }}
  for (const k of known.filter(k => k !== "method" && k !== "precision")) {{
    if (!Number.isInteger(a[k]) || a[k] <= 0) throw new Error("hwlibMemory: " + k + " must be a positive integer, got " + a[k]);
  }}
  if (a.hidden % a.heads) throw new Error("hwlibMemory: hidden (" + a.hidden + ") must be a multiple of heads (" + a.heads + ")");
  if (!METHODS.includes(a.method)) throw new Error("hwlibMemory: unknown method " + a.method + "; choose from " + METHODS.join(", "));
  if (!RECIPES.includes(a.precision)) throw new Error("hwlibMemory: unknown precision " + a.precision + "; choose from " + RECIPES.join(", "));
  return FORMULAS[a.method + "/" + a.precision]({", ".join(f"a.{name}" for name, _ in ARGS)});
}}
window.hwlibMemory = hwlibMemory;
}})();"""


_UI = """(function () {
const PRESETS = %(presets)s;
const FIELDS = ["layers", "hidden", "heads", "vocab", "ffn", "max_positions", "type_vocab", "num_labels",
                "adapter_size", "b", "s"];
const PARTS = [["weights", "#1f77b4"], ["optimizer", "#ff7f0e"], ["gradients", "#2ca02c"], ["activations", "#d62728"]];
const root = document.getElementById("hwlib-memory-calculator");
const get = name => root.querySelector("[name=" + name + "]");
function fill(preset) { for (const [k, v] of Object.entries(PRESETS[preset])) get(k).value = v; }
function draw() {
  const args = {method: get("method").value, precision: get("precision").value};
  for (const k of FIELDS) args[k] = Number(get(k).value);
  const out = root.querySelector(".hwlib-out"), bar = root.querySelector(".hwlib-bar");
  let r;
  try { r = window.hwlibMemory(args); } catch (e) { out.textContent = e.message; bar.innerHTML = ""; return; }
  const gb = x => (x / 1e9).toFixed(3) + " GB";
  out.innerHTML = PARTS.map(([k]) => k + ": " + gb(r[k])).join("<br>") +
    "<br><b>step peak: " + gb(r.peak) + "</b> (sum of the four: " + gb(r.total) + ")";
  bar.innerHTML = PARTS.map(([k, c]) => '<div title="' + k + '" style="display:inline-block;height:22px;background:' +
    c + ';width:' + (100 * r[k] / r.total).toFixed(2) + '%%"></div>').join("") +
    '<div style="position:absolute;top:-4px;height:30px;border-left:3px solid black;left:' +
    (100 * r.peak / r.total).toFixed(2) + '%%" title="step peak"></div>';
}
get("preset").addEventListener("change", e => { fill(e.target.value); draw(); });
root.addEventListener("input", draw);
fill(get("preset").value);
draw();
})();"""


def widget() -> str:
    """The calculator as HTML for the page: presets, the encoder's shape, method, precision, adapter size, b and s;
    the components and the step peak in GB, and a bar of the four components (black line: the step peak)."""
    presets = {name: {**dataclasses.asdict(enc), "adapter_size": 64, "b": 16, "s": 256}
               for name, enc in PRESETS.items()}
    field = ('<label style="display:inline-block;width:32%%;font-size:90%%">%s<br>'
             '<input name="%s" type="number" min="1" step="1" style="width:90%%"></label>')
    inputs = "".join(field % (k.replace("_", " "), k) for k, _ in ARGS)
    options = lambda values: "".join(f"<option>{v}</option>" for v in values)  # noqa: E731
    return f"""<div id="hwlib-memory-calculator" style="border:1px solid #ccc;padding:8px;max-width:100%">
<label>preset <select name="preset">{options(PRESETS)}</select></label>
<label>method <select name="method">{options(model.METHODS)}</select></label>
<label>precision <select name="precision">{options(model.RECIPES)}</select></label>
<div>{inputs.replace('%%', '%')}</div>
<div class="hwlib-out" style="margin:6px 0;font-family:monospace;font-size:90%"></div>
<div class="hwlib-bar" style="position:relative;width:100%;white-space:nowrap;font-size:0"></div>
<div style="font-size:80%">blue weights, orange optimizer state, green gradients, red activations; black line: the
step peak (weights + optimizer + the larger of activations and gradients)</div>
</div>
<script>{javascript()}</script>
<script>{_UI % {"presets": json.dumps(presets)}}</script>"""
