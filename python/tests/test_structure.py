"""How the unrolled model is put together: ties, per-depth parts, adapters, cache slots."""

import pytest
import torch

import rrt_torch


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


@pytest.mark.parametrize("name,path", [("qwen3", "self_attn.q_norm"), ("olmo2", "self_attn.k_norm"), ("olmo2", "post_feedforward_layernorm")])
def test_qk_and_post_sublayer_norms_are_tied_like_the_other_norms(checkpoints, name, path):
    unrolled = rrt_torch.unwrap(rrt_torch.load(checkpoints(name))).rrt_checkpoint.block["plan"]["unrolled"]
    shared, untied = rrt_torch.load(checkpoints(name)), rrt_torch.load(checkpoints(f"{name}-untied"))
    for d, u in enumerate(unrolled):
        assert depth_module(shared, d, path).weight is depth_module(shared, u["slot"], path).weight
    assert len({id(depth_module(untied, d, path).weight) for d in range(len(unrolled))}) == len(unrolled)


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


@pytest.mark.parametrize("name", ["llama", "qwen3", "olmo2", "phi3", "phi3-longrope", "llama-loop-norm"])
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
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    # slots are shared, caches are not: depth 0 and the next depth of slot 0 hold different keys
    again = next(d for d, u in enumerate(unrolled) if d > 0 and u["slot"] == unrolled[0]["slot"])
    assert not torch.equal(cache.layers[0].keys, cache.layers[again].keys)
