"""LoRA through peft: exact parameter counts, the pretrained model's outputs at the start, frozen weights untouched
by training, and a merged model that predicts what the unmerged one does.

Arithmetic: merging is exact algebra, so the merge is checked in fp32 (the trained model pins ``precision="fp32"``:
under ``auto`` a bf16 CPU would train it under bf16 autocast, which the Trainer leaves on the model's forward, and
the comparison would measure bf16 rounding, not merging); and once more with both sides under the same bf16 autocast,
to a tolerance derived from bf16's precision. Direct model calls outside the Trainer run in fp32 on every machine."""
import pytest
import torch

from hwlib.models.adapters import adapter_parameter_count, count_parameters
from hwlib.train.config import RunConfig
from hwlib.models.lora import TARGETS, add_lora, lora_parameter_count
from hwlib.models.encoders import load_model
from hwlib.train.finetune import build_trainer

pytestmark = pytest.mark.numerics  # CI runs this file once with each forced precision decision

ALL = ",".join(TARGETS)


@pytest.fixture(scope="module")
def tok():
    return load_model("minilm", num_labels=3, seed=0)[1]


@pytest.mark.parametrize("targets, rank", [("query,value", 8), ("query,value", 64), (ALL, 4), ("output", 2)])
def test_lora_count_matches_the_closed_form(tok, targets, rank):
    model, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
    counts = count_parameters(add_lora(model, rank=rank, targets=targets))
    assert counts["adapter"] == lora_parameter_count(6, 384, rank, targets)
    assert counts["trainable"] == counts["adapter"] + 384 * 3 + 3  # and the classification head


def test_rank_64_on_query_and_value_matches_the_adapters():
    lora, adapters = lora_parameter_count(6, 384, 64), adapter_parameter_count(6, 384, 64)
    assert lora == 4 * 6 * 64 * 384 == 589_824 and abs(lora - adapters) / adapters < 0.01


def test_lora_starts_from_the_pretrained_model(tok):
    enc = tok(["a first sentence", "and a second, longer one"], padding=True, return_tensors="pt")
    plain, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
    lora, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
    lora = add_lora(lora, rank=8, targets=ALL)
    plain.eval(), lora.eval()
    with torch.no_grad():
        torch.testing.assert_close(lora(**enc).logits, plain(**enc).logits)  # B = 0: the update starts at zero


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = RunConfig(dataset="agnews_sup", method="lora", max_train_samples=48, max_eval_samples=16, epochs=1,
                    learning_rate=1e-3, lora_rank=4, precision="fp32")
    trainer, tok = build_trainer(cfg, str(tmp_path_factory.mktemp("lora")), progress=False)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    return trainer, tok, before


@pytest.mark.slow
def test_training_changes_only_lora_and_the_head(trained):
    trainer, _, before = trained
    params = dict(trainer.model.named_parameters())
    changed = {n for n, p in params.items() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable == {n for n in params if "lora_" in n or "classifier.modules_to_save" in n}
    assert changed == trainable  # every LoRA weight moved; every frozen weight is bit-identical


def _merged_and_unmerged_logits(trained, autocast: bool):
    import copy

    trainer, tok, _ = trained
    batch = trainer.data_collator([tok["test"][i] for i in range(8)])
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    model = copy.deepcopy(trainer.model).eval()  # merging unloads the adapters in place: keep the fixture's
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        unmerged = model(**inputs).logits.float()
        merged_model = model.merge_and_unload()
        assert not any("lora_" in n for n, _ in merged_model.named_parameters())
        return merged_model(**inputs).logits.float(), unmerged


@pytest.mark.slow
def test_a_merged_model_predicts_what_the_unmerged_one_does(trained):
    merged, unmerged = _merged_and_unmerged_logits(trained, autocast=False)  # fp32 on both sides
    torch.testing.assert_close(merged, unmerged, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_under_bf16_autocast_the_merge_agrees_to_bf16s_precision(trained):
    # bf16 keeps 8 significant bits: each operand of a matmul is rounded by up to u = 2**-8 (0.39 %). The two sides
    # round different operands (W + (alpha/r) B A once, against W and the low-rank path apart) at each of the 6
    # layers' two LoRA sites, and the layers' differences add up along the way, so a logit may move by a few u of the
    # logits' scale: measured 1.5 u on a CPU that emulates bf16 and 4.1 u on one with native AVX512-BF16 (oneDNN
    # rounds its accumulations differently there). Allowed: 8 u of the largest |logit| (3.1 % of it); a wrong merge
    # is caught to 1e-4 by the fp32 test above.
    merged, unmerged = _merged_and_unmerged_logits(trained, autocast=True)
    u = torch.finfo(torch.bfloat16).eps / 2
    torch.testing.assert_close(merged, unmerged, rtol=0, atol=8 * u * float(unmerged.abs().max()))


def test_lora_settings_apply_to_lora_only():
    assert RunConfig(method="full", lora_rank=64).settings() == {}
    assert RunConfig(method="lora", lora_rank=64).settings() == {"lora_rank": 64}
    with pytest.raises(ValueError, match="lora_targets='query,qkv'"):
        RunConfig(method="lora", lora_targets="query,qkv")


def test_the_total_counts_the_model_once(tok):
    model, _ = load_model("minilm", num_labels=3, seed=0, tokenizer=tok)
    total = count_parameters(model)["total"]
    assert count_parameters(add_lora(model, rank=8))["total"] == total + lora_parameter_count(6, 384, 8)


def test_the_books_parameter_table_has_closed_forms_equal_to_the_counts():
    from hwlib.models.lora import parameter_comparison

    rows = parameter_comparison(ranks=(64, 8))
    assert [r["added (closed form)"] for r in rows] == [r["added (counted)"] for r in rows] == [595200, 589824, 73728]
    assert all(r["trainable"] > r["added (counted)"] for r in rows)  # the head trains as well
