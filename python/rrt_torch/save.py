"""A loaded (and perhaps trained) model -> rrt's checkpoint format again: each slot once, from
the depth that first uses it (after checking every other depth still shares that very tensor),
per-depth norms, per-depth LoRA factors, the same config.json and the source's tokenizer files.
Written into DST.tmp-<pid> and renamed into place, so a failure leaves nothing that loads."""

import json
import os
import shutil

import torch
from torch import nn

from .errors import RrtTorchError
from .load import CheckpointInfo, depth_name, lora_names, per_depth_name, split_depth_name
from .architectures import is_norm_or_bias
from . import js_json
from .safetensors_io import write_safetensors

# rrt's TOKENIZER_FILES (src/models/save.ts)
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.model", "tokenizer.bin"]


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside DDP/FSDP wrappers and a PeftModel."""
    while True:
        if "rrt_checkpoint" in vars(model):  # its own attribute: PeftModel forwards unknown ones to the model inside
            return model
        inner = getattr(model, "module", None) or getattr(getattr(model, "base_model", None), "model", None)
        if inner is None or inner is model:
            raise RrtTorchError("format", "this model was not loaded by rrt_torch.load (no checkpoint information on it)")
        model = inner


def _parameter(model: nn.Module, name: str) -> nn.Parameter:
    """A parameter by its transformers name, looking through PEFT's base_layer wrappers."""
    module = model
    *path, attr = name.split(".")
    for part in path:
        if not hasattr(module, part) and hasattr(module, "base_layer"):
            module = module.base_layer
        module = getattr(module, part)
    if not hasattr(module, attr) and hasattr(module, "base_layer"):
        module = module.base_layer
    return getattr(module, attr)


def collect_tensors(model: nn.Module) -> dict:
    """Checkpoint name -> tensor, as rrt stores them."""
    hf = unwrap(model)
    info: CheckpointInfo = hf.rrt_checkpoint
    arch, block = info.arch, info.block
    unrolled = block["plan"]["unrolled"]
    _refuse_merged(hf)
    out = {arch.checkpoint_name(name): _parameter(hf, name) for name in info.global_names}
    first_depth: dict = {}
    for d, u in enumerate(unrolled):
        first_depth.setdefault(u["slot"], d)
    for suffix in info.layer_suffixes:
        if not block["sharedNorms"] and is_norm_or_bias(suffix):
            for d in range(len(unrolled)):
                out[per_depth_name(d, suffix)] = _parameter(hf, depth_name(arch, d, suffix))
            continue
        for slot, d0 in first_depth.items():
            shared = _parameter(hf, depth_name(arch, d0, suffix))
            for d, u in enumerate(unrolled):
                other = _parameter(hf, depth_name(arch, d, suffix))
                if u["slot"] == slot and other is not shared:
                    raise RrtTorchError("tying", f"depth {d} no longer shares {suffix} with slot {slot} (depth {d0}): the tie was broken, rrt stores each slot once")
            out[depth_name(arch, slot, suffix)] = shared
    for name, r in info.lora_targets.items():
        layer = _lora_layer(hf, name)
        a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
        if a.shape[0] != r or b.shape[1] != r:
            raise RrtTorchError("adapter", f"LoRA rank mismatch at {name}: the recursive block says rank {r}, the adapter has A {list(a.shape)}, B {list(b.shape)}")
        if layer.scaling["default"] != 1.0:
            raise RrtTorchError("adapter", f"{name}: LoRA scaling {layer.scaling['default']}; rrt's adapters are applied at scaling 1 (lora_alpha = r)")
        a_name, b_name = lora_names(*split_depth_name(arch, name))
        out[a_name], out[b_name] = a, b
    return out


def _lora_layer(hf: nn.Module, name: str) -> nn.Module:
    layer = hf.get_submodule(name)
    if not hasattr(layer, "lora_A") or "default" not in layer.lora_A:
        raise RrtTorchError("adapter", f"{name} has no LoRA adapter: it was merged into the base weights or unloaded; rrt keeps adapters separate from the shared slot (save before merge_and_unload)")
    return layer


def _refuse_merged(hf: nn.Module) -> None:
    for name, module in hf.named_modules():
        if getattr(module, "merged_adapters", None):
            raise RrtTorchError("adapter", f"the LoRA adapter of {name} is merged into its base weight, which is a shared slot: every depth of the slot now carries it. Unmerge it (model.unmerge_adapter()) before saving")


def save(model: nn.Module, directory: str, *, force: bool = False) -> None:
    """Writes the model as an rrt recursive checkpoint at `directory` (replaced only with force).

    Under FSDP2 call it on every rank: the shards are gathered and rank 0 writes."""
    hf = unwrap(model)
    info: CheckpointInfo = hf.rrt_checkpoint
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and not force:
        raise RrtTorchError("exists", f"{directory} already exists; pass force=True to replace it")
    tensors = collect_tensors(model)
    if any(hasattr(t, "full_tensor") for t in tensors.values()):
        # FSDP2 shards (DTensors): every rank gathers them (a collective), rank 0 writes
        with torch.no_grad():
            tensors = {n: t.full_tensor() if hasattr(t, "full_tensor") else t for n, t in tensors.items()}
        if torch.distributed.get_rank() != 0:
            return
    tmp = f"{directory}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with torch.no_grad():
            write_safetensors(os.path.join(tmp, "model.safetensors"), tensors, info.metadata)
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
            f.write(js_json.dumps(info.config) + "\n")
        for name in TOKENIZER_FILES:
            src = os.path.join(info.source_dir, name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(tmp, name))
        _replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(tmp: str, directory: str) -> None:
    """Renames tmp into place; an existing directory is moved aside first and removed last."""
    if not os.path.exists(directory):
        os.rename(tmp, directory)
        return
    old = f"{directory}.old-{os.getpid()}"
    os.rename(directory, old)
    os.rename(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
