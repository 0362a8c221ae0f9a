"""The memory chapter's claims: the report's figures reproduced exactly, the corrected formulas' algebra, and the
formulas against memory measured on real models (meta-device counts, tensors after an AdamW step, saved activations).

Arithmetic: the CPU measurements run the model directly in fp32 (``hwlib.memory.measure``, no autocast), set against
the ``fp32-cpu`` recipe, on every machine; the bf16 figures come from the stored GPU measurement."""
import pytest
import sympy as sp

from hwlib import memory
from hwlib.models.adapters import adapter_parameter_count

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision


def test_report_figures_reproduced_exactly():
    fig = memory.report_figures()
    assert fig["full_GB"] == 30
    assert round(float(fig["hidden_exact"]), 1) == 3227.5
    assert fig["adapter_params"] == 416_734
    assert fig["total_adapter_params"] == 20_003_232
    assert round(float(fig["trainable_percent"]), 4) == 0.6668
    assert fig["adapters_GB"] == sp.Rational(12_120_019_392, 10**9)
    assert round(float(fig["adapters_GB"]), 2) == 12.12
    assert round(float(fig["saved_GB"]), 2) == 17.88
    assert round(float(fig["saved_percent"]), 1) == 59.6


def test_report_memory_components_add_up_and_adapters_pay_only_for_their_own_updates():
    full, adapter = memory.report_memory("full"), memory.report_memory("adapter")
    for d in (full, adapter):
        assert sp.simplify(d["total"] - sum(v for k, v in d.items() if k != "total")) == 0
    assert full["total"] == 10 * memory.P
    # with adapters the frozen parameters keep weights and "activations" only
    assert sp.expand(adapter["total"] - 4 * memory.P) == sp.expand(6 * memory.total_adapter_parameters())


def test_adapter_formula_matches_hwlib_adapters():
    for L, H, m in ((24, 3230, 64), (6, 384, 16), (12, 768, 64)):
        assert memory.total_adapter_parameters(L, H, m) == adapter_parameter_count(L, H, m)


def test_layer_inventory_reduces_to_korthikanti_in_16_bit():
    full = memory.layer_activation_bytes("mixed", "full", stats=False).subs(memory.H_ff, 4 * memory.H)
    assert sp.simplify(full - memory.korthikanti_layer_bytes()) == 0
    # adapters drop the inputs of the frozen projections (2+2+2+8 per sbH) and add their own inputs and ReLU outputs
    adapter = memory.layer_activation_bytes("mixed", "adapter", stats=False).subs(memory.H_ff, 4 * memory.H)
    s, b, H, m = memory.s, memory.b, memory.H, memory.m
    assert sp.expand(full - adapter) == sp.expand(10 * s * b * H - 4 * s * b * m)


def test_encoder_parameters_leave_out_what_12_h2_l_misses():
    parts = {k: v.subs(memory.BERT_3B.subs()) for k, v in memory.parameter_parts().items()}
    H, L = memory.BERT_3B.hidden, memory.BERT_3B.layers
    assert parts["layer weight matrices (Q, K, V, O, feed-forward)"] == 12 * H**2 * L
    assert memory.encoder_parameters().subs(memory.BERT_BASE.subs()) == 109_482_240  # bert-base-uncased


def test_corrected_totals_adapters_save_states_not_activations():
    full = memory.evaluate(memory.training_memory(memory.BERT_3B, "full"), b=16, s=256)
    adapter = memory.evaluate(memory.training_memory(memory.BERT_3B, "adapter"), b=16, s=256)
    assert adapter["optimizer"] < full["optimizer"] / 100
    assert 0.5 * full["activations"] < adapter["activations"] < full["activations"]
    curve = memory.sweep({"adapter": memory.training_memory(memory.BERT_3B, "adapter")}, "b", [1, 2, 4], s=128)
    assert curve["adapter"].is_monotonic_increasing


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="'fp8'.*mixed"):
        memory.recipe("fp8")
    with pytest.raises(ValueError, match="'lora'.*full, adapter"):
        memory.activation_bytes("mixed", "lora")
    with pytest.raises(ValueError, match="multiple of heads"):
        memory.Encoder(layers=2, hidden=100, heads=3, vocab=10, ffn=400)
    with pytest.raises(ValueError, match="layers"):
        memory.Encoder(layers=0, hidden=64, heads=1, vocab=10, ffn=256)
    mem = memory.training_memory(memory.BERT_BASE, "full")
    with pytest.raises(ValueError, match=r"unknown symbol\(s\) \['batch'\]"):
        memory.evaluate(mem, batch=8, s=128)
    with pytest.raises(ValueError, match=r"no value given for symbol\(s\) \['s'\]"):
        memory.evaluate(mem, b=8)


# --- against measurement ------------------------------------------------------------------------------------------
measure = pytest.importorskip("hwlib.memory.measure")


def test_parameter_counts_match_meta_device_models():
    rows = measure.parameter_rows(adapter_size=64)
    assert len(rows) == 5
    assert (rows.rel_error == 0).all(), rows


def test_state_bytes_match_tensors_after_an_adamw_step():
    rows = measure.state_rows(adapter_size=64)
    assert len(rows) == 6
    assert rows.rel_error.max() < 1e-4, rows  # AdamW's 4-byte step counters are all that is left out


def test_saved_activations_match_the_formula():
    acts = measure.activation_rows(grid=((1, 32), (2, 64)), adapter_size=64)
    assert acts.err_predicted.max() < 0.01, acts
    assert acts.err_layers_only.max() < 0.10, acts
    full = acts[acts.method == "full"].set_index(["b", "s"]).measured
    adapter = acts[acts.method == "adapter"].set_index(["b", "s"]).measured
    assert (adapter < full).all()  # frozen projections' inputs are not saved


def test_fake_batch_rejects_bad_shapes():
    model = measure.load_minilm("full")
    with pytest.raises(ValueError, match="s=600"):
        measure.fake_batch(model, 2, 600)


memory_gpu = pytest.importorskip("hwlib.memory.gpu")


def test_step_peak_is_at_an_end_of_the_backward_pass():
    mem = {"weights": 10, "optimizer": 20, "activations": memory.b * 3, "gradients": 12}
    assert memory.evaluate({"p": memory.step_peak(mem)}, b=1)["p"] == 10 + 20 + 12  # gradients larger
    assert memory.evaluate({"p": memory.step_peak(mem)}, b=8)["p"] == 10 + 20 + 24  # activations larger


def test_build_classifier_has_the_embedded_models_shape():
    for method in memory.METHODS:  # random weights, the embedded MiniLM's parameters exactly
        built = measure.count_parameters(measure.build_classifier(memory.MINILM, method))
        assert built == measure.count_parameters(measure.load_minilm(method))


def test_gpu_step_names_bad_settings_before_looking_for_a_gpu():
    with pytest.raises(ValueError, match="'fp16'.*bf16"):
        memory_gpu.step(memory.MINILM, autocast="fp16")
    with pytest.raises(ValueError, match="'adam8bit'.*fused, foreach"):
        memory_gpu.step(memory.MINILM, optimizer="adam8bit")
    with pytest.raises(ValueError, match="'lora'"):
        memory_gpu.step(memory.MINILM, method="lora")


def test_gpu_record_without_measurements_or_gpu_says_what_to_run(tmp_path):
    if memory_gpu.torch.cuda.is_available():
        pytest.skip("a GPU is present: memory_gpu.record would measure")
    with pytest.raises(FileNotFoundError, match="python -m hwlib cuda-memory"):
        memory_gpu.record(tmp_path / "cuda.json")


def test_stored_gpu_measurements_match_the_model():
    """The committed H200 measurements (results/memory/cuda.json) against today's formulas: fp32 components within
    4 %, the step's peak within 2 % for the 3B-class encoder (under it: transient buffers come on top)."""
    record = memory_gpu.load()
    assert record is not None, "results/memory/cuda.json is missing: run `python -m hwlib cuda-memory` on a GPU"
    assert {"device", "torch", "date", "runtime_s"} <= set(record["provenance"])
    df = memory_gpu.comparison(record)
    fp32 = df[df.autocast == "-"]
    parts = fp32[fp32.quantity.isin(["weights", "gradients", "optimizer", "activations"])]
    assert parts.rel_error.max() < 0.04, parts
    peak = fp32[(fp32.quantity == "peak") & (fp32.encoder == "3B-class")]
    assert len(peak) >= 4 and peak.rel_error.max() < 0.02 and (peak.predicted <= peak.measured).all(), peak
    full = fp32[(fp32.quantity == "peak") & (fp32.encoder == "3B-class") & (fp32.method == "full")]
    adapter = fp32[(fp32.quantity == "peak") & (fp32.encoder == "3B-class") & (fp32.method == "adapter")]
    assert full.measured.min() > adapter.measured.max() > 0
