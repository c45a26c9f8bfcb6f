"""Inputs the bridge refuses, each with a clear RrtTorchError, and saves that leave nothing behind."""

import importlib
import json
import os
import shutil

import pytest
import torch

import rrt_torch
from rrt_torch import RrtTorchError
from conftest import FIXTURES, rrt


def copy_with_config(src, dst, edit):
    shutil.copytree(src, dst)
    path = os.path.join(dst, "config.json")
    with open(path) as f:
        config = json.load(f)
    edit(config)
    with open(path, "w") as f:
        json.dump(config, f)
    return dst


def only_the_target_left(parent, name):
    """No DST, no DST.tmp-*: a failed save leaves nothing that could be mistaken for a model."""
    return [f for f in os.listdir(parent) if f.startswith(name)]


def test_recursive_block_that_disagrees_with_the_tensors(checkpoints, tmp_path):
    # says the norms are per depth, but the file shares them
    bad = copy_with_config(checkpoints("llama"), tmp_path / "a", lambda c: c["recursive"].update(sharedNorms=False))
    with pytest.raises(RrtTorchError, match=r"disagree: recursive\.layers\.0\.input_layernorm\.weight is missing") as e:
        rrt_torch.load(bad)
    assert e.value.kind == "format"
    # says there are no adapters, but the file holds them
    bad = copy_with_config(checkpoints("llama"), tmp_path / "b", lambda c: c["recursive"].update(lora=None))
    with pytest.raises(RrtTorchError, match="does not account for .*lora_A"):
        rrt_torch.load(bad)
    # a slot index the file does not have
    def renumber(c):
        c["recursive"]["plan"]["unrolled"][5]["slot"] = 4
    with pytest.raises(RrtTorchError, match=r"model\.layers\.4\..* is missing"):
        rrt_torch.load(copy_with_config(checkpoints("llama"), tmp_path / "c", renumber))
    # fewer depths than layers
    def truncate(c):
        c["recursive"]["plan"]["unrolled"].pop()
    with pytest.raises(RrtTorchError, match="must list 6 depths"):
        rrt_torch.load(copy_with_config(checkpoints("llama"), tmp_path / "d", truncate))
    with pytest.raises(RrtTorchError, match="not an object"):
        rrt_torch.load(copy_with_config(checkpoints("llama"), tmp_path / "e", lambda c: c.pop("recursive")))


def test_unknown_architecture(checkpoints, tmp_path):
    # Gemma 3's multimodal model (model_type gemma3) is neither rrt's nor the bridge's: both read its text model, gemma3_text
    bad = copy_with_config(checkpoints("gemma3"), tmp_path / "a", lambda c: c.update(model_type="gemma3"))
    with pytest.raises(RrtTorchError, match='architecture "gemma3" is not supported; the bridge reads gemma, gemma2, gemma3_text, gpt2, gpt_neox, llama, mistral, olmo2, phi3, qwen2, qwen3$') as e:
        rrt_torch.load(bad)
    assert e.value.kind == "unsupported"
    bad = copy_with_config(checkpoints("llama"), tmp_path / "b", lambda c: c.update(model_type="mamba"))
    with pytest.raises(RrtTorchError, match='architecture "mamba" is not supported'):
        rrt_torch.load(bad)


def test_gemma_layer_types_that_do_not_give_each_depth_its_attention(checkpoints, tmp_path):
    # 6 layers over 4 loops: rrt keeps 4 of them, each depth with its source layer's type; the
    # source's 6 types on those 4 depths are refused
    dropped = str(tmp_path / "dropped")
    rrt("convert", os.path.join(FIXTURES, "gemma3"), dropped, "--loops", "4", "--lora-rank", "2")
    assert rrt_torch.load(dropped)
    with open(os.path.join(FIXTURES, "gemma3", "config.json")) as f:
        source_types = json.load(f)["layer_types"]
    with pytest.raises(RrtTorchError, match=r'"layer_types" has 6 entries for 4 depths; rrt gives depth d the attention of layer_types\[d\]') as e:
        rrt_torch.load(copy_with_config(dropped, tmp_path / "c", lambda c: c.update(layer_types=source_types)))
    assert e.value.kind == "unsupported"
    with pytest.raises(RrtTorchError, match='"layer_types" has "sliding_attention" for 4 depths'):
        rrt_torch.load(copy_with_config(checkpoints("gemma2"), tmp_path / "a", lambda c: c.update(layer_types="sliding_attention")))
    def chunked(c):
        c["layer_types"][1] = "chunked_attention"
    with pytest.raises(RrtTorchError, match='"layer_types" holds "chunked_attention"; rrt runs full_attention and sliding_attention layers only'):
        rrt_torch.load(copy_with_config(checkpoints("gemma2"), tmp_path / "b", chunked))


def test_a_rank_for_a_projection_the_architecture_lacks(checkpoints, tmp_path):
    # Phi-3's q, k and v are one fused projection: a rank for "q" names nothing
    def rank_q(c):
        c["recursive"]["lora"]["ranks"]["q"] = 4
    with pytest.raises(RrtTorchError, match='LoRA rank for projection "q", which phi3 does not have \\(qkv, o, gateUp, down\\)') as e:
        rrt_torch.load(copy_with_config(checkpoints("phi3"), tmp_path / "a", rank_q))
    assert e.value.kind == "format"


def test_a_loop_norm_the_plan_cannot_have(checkpoints, tmp_path):
    def loop_norm_on(c):
        c["recursive"]["loopNorm"] = True
    with pytest.raises(RrtTorchError, match="loopNorm needs a cycle plan, not middle-cycle") as e:
        rrt_torch.load(copy_with_config(checkpoints("llama-middle-cycle"), tmp_path / "a", loop_norm_on))
    assert e.value.kind == "format"
    for i, value in enumerate(["yes", None]):
        with pytest.raises(RrtTorchError, match="loopNorm must be true or false"):
            rrt_torch.load(copy_with_config(checkpoints("llama"), tmp_path / f"b{i}", lambda c: c["recursive"].update(loopNorm=value)))


def test_rank_mismatch(checkpoints, tmp_path):
    def rank3(c):
        c["recursive"]["lora"]["ranks"]["q"] = 3
    with pytest.raises(RrtTorchError, match=r"LoRA rank mismatch at depth 0 self_attn\.q_proj: the recursive block says rank 3") as e:
        rrt_torch.load(copy_with_config(checkpoints("llama"), tmp_path / "a", rank3))
    assert e.value.kind == "adapter"
    # an adapter swapped for one of another rank after loading
    from peft.tuners.lora import LoraLayer  # noqa: F401  (PEFT's own layer API)
    model = rrt_torch.load(checkpoints("llama"))
    q = rrt_torch.unwrap(model).get_submodule("model.layers.2.self_attn.q_proj")
    q.lora_A["default"] = torch.nn.Linear(64, 8, bias=False)
    q.lora_B["default"] = torch.nn.Linear(8, 64, bias=False)
    with pytest.raises(RrtTorchError, match="LoRA rank mismatch at model.layers.2.self_attn.q_proj"):
        rrt_torch.save(model, str(tmp_path / "out"))
    assert only_the_target_left(tmp_path, "out") == []


def test_merged_adapters_are_refused(checkpoints, tmp_path):
    model = rrt_torch.load(checkpoints("llama"))
    model.merge_adapter()  # would fold every depth's adapter into the one shared slot
    with pytest.raises(RrtTorchError, match="merged into its base weight, which is a shared slot") as e:
        rrt_torch.save(model, str(tmp_path / "out"))
    assert e.value.kind == "adapter"
    merged = rrt_torch.load(checkpoints("llama")).merge_and_unload()
    with pytest.raises(RrtTorchError, match="has no LoRA adapter: it was merged into the base weights or unloaded"):
        rrt_torch.save(merged, str(tmp_path / "out"))
    assert only_the_target_left(tmp_path, "out") == []


def test_a_broken_tie_is_refused(checkpoints, tmp_path):
    model = rrt_torch.load(checkpoints("llama-strict"))
    k = rrt_torch.unwrap(model).model.layers[4].self_attn.k_proj
    k.weight = torch.nn.Parameter(k.weight.detach().clone())
    with pytest.raises(RrtTorchError, match="depth 4 no longer shares self_attn.k_proj.weight with slot 1") as e:
        rrt_torch.save(model, str(tmp_path / "out"))
    assert e.value.kind == "tying"
    assert only_the_target_left(tmp_path, "out") == []


def test_quantized_checkpoints_are_refused(checkpoints, tmp_path):
    dst = str(tmp_path / "q8")
    rrt("quantize", checkpoints("llama"), dst, "--dtype", "q8_0")
    with pytest.raises(RrtTorchError, match="quantized matrices as GGUF blocks .* the bridge reads f32 checkpoints only"):
        rrt_torch.load(dst)


def test_save_never_leaves_half_a_directory(checkpoints, tmp_path, monkeypatch):
    model = rrt_torch.load(checkpoints("llama"))
    out = str(tmp_path / "out")
    rrt_torch.save(model, out)
    with pytest.raises(RrtTorchError, match="already exists; pass force=True") as e:
        rrt_torch.save(model, out)
    assert e.value.kind == "exists"

    # a failure while writing: the existing directory is untouched, no temp directory stays
    before = open(os.path.join(out, "model.safetensors"), "rb").read()
    save_module = importlib.import_module("rrt_torch.save")  # the module, not the function of that name

    def disk_full(path, tensors, metadata):
        open(path, "wb").write(b"partial")
        raise OSError("No space left on device")
    monkeypatch.setattr(save_module, "write_safetensors", disk_full)
    with pytest.raises(OSError):
        rrt_torch.save(model, out, force=True)
    assert open(os.path.join(out, "model.safetensors"), "rb").read() == before
    assert only_the_target_left(tmp_path, "out") == ["out"]
    with pytest.raises(OSError):
        rrt_torch.save(model, str(tmp_path / "fresh"))
    assert only_the_target_left(tmp_path, "fresh") == []


def test_not_a_model_directory(tmp_path):
    with pytest.raises(RrtTorchError, match="has no config.json"):
        rrt_torch.load(str(tmp_path))
