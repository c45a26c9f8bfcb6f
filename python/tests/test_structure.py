"""How the unrolled model is put together: ties, per-depth parts, adapters, cache slots."""

import pytest
import torch

import rrt_torch
from conftest import rel
from rrt_torch.architectures import is_norm_or_bias
from rrt_torch.train import param_groups


def depth_module(model, d, path):
    return rrt_torch.unwrap(model).get_submodule(f"model.layers.{d}.{path}")


def base_weight(module):
    return getattr(module, "base_layer", module).weight


def test_slot_weights_are_one_parameter_across_depths(checkpoints):
    model = rrt_torch.load(checkpoints("llama"))
    hf = rrt_torch.unwrap(model)
    unrolled = hf.rrt_checkpoint.block["plan"]["unrolled"]
    assert len(hf.model.layers) == len(unrolled) == 6
    for d, u in enumerate(unrolled):
        s = u["slot"]
        for path in ("self_attn.q_proj", "mlp.down_proj"):
            assert base_weight(depth_module(model, d, path)) is base_weight(depth_module(model, s, path))
            assert depth_module(model, d, path) is not depth_module(model, s, path) or d == s  # distinct modules
        # shared norms (no --untie-norms): tied too
        assert depth_module(model, d, "input_layernorm").weight is depth_module(model, s, "input_layernorm").weight
    # 3 slots × 7 matrices + 2 norms, stored once
    unique = {id(p) for p in model.parameters()}
    assert len(unique) == len(list(model.parameters()))
    assert sum(1 for n, _ in hf.named_parameters() if ".layers." in n and "lora" not in n) == 3 * 9


def test_each_depth_has_its_own_adapter_at_scaling_one(checkpoints):
    model = rrt_torch.load(checkpoints("llama"))
    q0, q3 = depth_module(model, 0, "self_attn.q_proj"), depth_module(model, 3, "self_attn.q_proj")
    assert q0.lora_A["default"].weight is not q3.lora_A["default"].weight
    assert not torch.equal(q0.lora_B["default"].weight, q3.lora_B["default"].weight)
    for d in range(6):
        m = depth_module(model, d, "mlp.gate_proj")
        assert m.scaling["default"] == 1.0 and m.r["default"] == 4


def test_untied_norms_are_per_depth(checkpoints):
    model = rrt_torch.load(checkpoints("llama-untied"))
    norms = [depth_module(model, d, "post_attention_layernorm").weight for d in range(6)]
    assert len({id(n) for n in norms}) == 6
    assert base_weight(depth_module(model, 0, "self_attn.v_proj")) is base_weight(depth_module(model, 2, "self_attn.v_proj"))


def test_all_parameters_train_by_default(checkpoints):
    model = rrt_torch.load(checkpoints("llama"))
    assert all(p.requires_grad for p in model.parameters())
    frozen = rrt_torch.load(checkpoints("llama"), trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())


@pytest.mark.parametrize("name,path", [
    ("qwen3", "self_attn.q_norm"), ("olmo2", "self_attn.k_norm"), ("olmo2", "post_feedforward_layernorm"),
    ("gemma2", "pre_feedforward_layernorm"), ("gemma2", "post_feedforward_layernorm"), ("gemma3", "post_attention_layernorm"), ("gemma3", "self_attn.q_norm"),
])
def test_qk_and_post_sublayer_norms_are_tied_like_the_other_norms(checkpoints, name, path):
    unrolled = rrt_torch.unwrap(rrt_torch.load(checkpoints(name))).rrt_checkpoint.block["plan"]["unrolled"]
    shared, untied = rrt_torch.load(checkpoints(name)), rrt_torch.load(checkpoints(f"{name}-untied"))
    for d, u in enumerate(unrolled):
        assert depth_module(shared, d, path).weight is depth_module(shared, u["slot"], path).weight
    assert len({id(depth_module(untied, d, path).weight) for d in range(len(unrolled))}) == len(unrolled)


GEMMA_NORMS = ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]


@pytest.mark.parametrize("name,norms", [("gemma2-untied", GEMMA_NORMS), ("gemma3-untied", GEMMA_NORMS + ["self_attn.q_norm", "self_attn.k_norm"])])
def test_gemma_norms_are_norms_per_depth_without_decay_or_adapters(checkpoints, name, norms):
    model = rrt_torch.load(checkpoints(name))
    hf = rrt_torch.unwrap(model)
    suffixes = hf.rrt_checkpoint.layer_suffixes
    assert sorted(s for s in suffixes if is_norm_or_bias(s)) == sorted(f"{n}.weight" for n in norms)
    n_depths = len(hf.model.layers)
    decayed = {id(p) for p in param_groups(model, 0.1)[0]["params"]}
    for n in norms:
        weights = [depth_module(model, d, n).weight for d in range(n_depths)]
        assert len({id(w) for w in weights}) == n_depths  # --untie-norms: one per depth
        assert not any(id(w) in decayed for w in weights)
        assert not hasattr(depth_module(model, 0, n), "lora_A")
    assert id(base_weight(depth_module(model, 0, "mlp.down_proj"))) in decayed


@pytest.mark.parametrize("name", ["gemma2", "gemma3", "gemma3-loops3"])
def test_each_gemma_depth_attends_as_its_layer_type_says(checkpoints, name):
    hf = rrt_torch.unwrap(rrt_torch.load(checkpoints(name)))
    config = hf.rrt_checkpoint.config
    attn = [layer.self_attn for layer in hf.model.layers]
    assert [a.layer_type for a in attn] == config["layer_types"]
    assert [a.sliding_window for a in attn] == [config["sliding_window"] if t == "sliding_attention" else None for t in config["layer_types"]]
    if name == "gemma3-loops3":  # depth d's type, not its slot's: slot 0 is sliding at depths 0 and 4, full at 2
        slot0 = [config["layer_types"][d] for d, u in enumerate(hf.rrt_checkpoint.block["plan"]["unrolled"]) if u["slot"] == 0]
        assert slot0 == ["sliding_attention", "full_attention", "sliding_attention"]


def test_phi3_fused_projections_are_one_slot_tensor_with_one_adapter_per_depth(checkpoints):
    model = rrt_torch.load(checkpoints("phi3"))
    for path, rows in (("self_attn.qkv_proj", 4 * 16 + 2 * 2 * 16), ("mlp.gate_up_proj", 2 * 160)):
        layers = [depth_module(model, d, path) for d in range(4)]
        assert base_weight(layers[0]) is base_weight(layers[2]) and base_weight(layers[0]) is not base_weight(layers[1])
        assert base_weight(layers[0]).shape == (rows, 64)
        assert all(m.r["default"] == 4 and m.scaling["default"] == 1.0 and m.lora_B["default"].weight.shape == (rows, 4) for m in layers)
        assert layers[0].lora_A["default"].weight is not layers[2].lora_A["default"].weight


def test_loop_norm_runs_the_final_norm_after_every_loop_but_the_last(checkpoints):
    hf = rrt_torch.unwrap(rrt_torch.load(checkpoints("llama-loop-norm")))
    hooked = [d for d, layer in enumerate(hf.model.layers) if layer._forward_hooks]
    assert hooked == [1, 3]  # 2 slots × 3 loops: the ends of loops 1 and 2
    plain = rrt_torch.unwrap(rrt_torch.load(checkpoints("llama")))
    assert not any(layer._forward_hooks for layer in plain.model.layers)


@pytest.mark.parametrize("name", ["llama", "qwen3", "olmo2", "phi3", "phi3-longrope", "llama-loop-norm", "gemma2", "gemma3", "gemma3-loops3"])
def test_depth_d_uses_cache_slot_d_and_cached_decoding_matches_the_full_pass(checkpoints, name):
    model = rrt_torch.load(checkpoints(name))
    hf = rrt_torch.unwrap(model)
    unrolled = hf.rrt_checkpoint.block["plan"]["unrolled"]
    assert [layer.self_attn.layer_idx for layer in hf.model.layers] == list(range(len(unrolled)))
    ids = torch.tensor([[1, 7, 42, 300, 12, 9, 77, 5]])
    with torch.no_grad():
        full = model(input_ids=ids).logits
        out = model(input_ids=ids[:, :4], use_cache=True)
        cache, steps = out.past_key_values, [out.logits]
        for t in range(4, 8):
            out = model(input_ids=ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    assert len(cache.layers) == len(unrolled)  # one KV slot per unrolled depth, not per shared slot
    # relative to the largest logit, as the parity tests: Gemma 3's logits reach 6 and the prompt's
    # shorter pass rounds differently by up to 2.4e-5 (transformers' own model of the fixture too)
    assert rel(torch.cat(steps, dim=1), full) < 1e-5
    # slots are shared, caches are not: depth 0 and the next depth of slot 0 hold different keys
    again = next(d for d, u in enumerate(unrolled) if d > 0 and u["slot"] == unrolled[0]["slot"])
    assert not torch.equal(cache.layers[0].keys, cache.layers[again].keys)
