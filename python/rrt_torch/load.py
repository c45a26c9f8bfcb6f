"""rrt checkpoint -> a transformers model at the unrolled depth.

Depth d is an ordinary decoder layer of the source architecture (so its attention carries
layer_idx = d and uses KV-cache slot d), but its projection weights are the very nn.Parameter
of its slot: one tensor shared by several modules, so that autograd sums the depths' gradients
into it as rrt does. Per-depth norms (sharedNorms false) are parameters of their own; every
relaxed projection gets its own PEFT LoRA adapter at scaling 1 (lora_alpha = r). A loopNorm
model applies the final norm to the stream after every loop but the last, through forward hooks."""

import dataclasses
import json
import os
import re
import typing
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import CONFIG_MAPPING, AutoModelForCausalLM

from .architectures import Architecture, architecture_for, is_norm_or_bias, layer_count_key
from .errors import RrtTorchError
from .safetensors_io import read_safetensors
from .spec import lora_ranks, loop_ends, parse_recursive_block


@dataclass
class CheckpointInfo:
    """What save() needs to write the model back in rrt's format; kept on the transformers model."""

    source_dir: str
    config: dict  # config.json as read, "recursive" block included
    metadata: dict  # the safetensors header's __metadata__
    arch: Architecture
    global_names: list  # model-level parameters stored in the checkpoint (embeddings, final norm, head), by transformers name
    layer_suffixes: list  # parameter names inside one decoder layer
    lora_targets: dict = field(default_factory=dict)  # module path -> rank

    @property
    def block(self) -> dict:
        return self.config["recursive"]


def depth_name(arch: Architecture, depth: int, suffix: str) -> str:
    return f"{arch.layer_prefix}.{depth}.{suffix}"


def split_depth_name(arch: Architecture, name: str) -> tuple[int, str]:
    """'model.layers.7.self_attn.q_proj' -> (7, 'self_attn.q_proj')."""
    depth, rest = name[len(arch.layer_prefix) + 1:].split(".", 1)
    return int(depth), rest


def per_depth_name(depth: int, suffix: str) -> str:
    return f"recursive.layers.{depth}.{suffix}"


def lora_names(depth: int, module: str) -> tuple[str, str]:
    return per_depth_name(depth, f"{module}.lora_A"), per_depth_name(depth, f"{module}.lora_B")


def _set_parameter(model: nn.Module, name: str, param: nn.Parameter) -> None:
    owner, _, attr = name.rpartition(".")
    setattr(model.get_submodule(owner), attr, param)


def _read_config(directory: str) -> dict:
    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        raise RrtTorchError("format", f"{directory} has no config.json: not a model directory")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _check_layer_types(arch: Architecture, config: dict, n_layers: int) -> None:
    """rrt gives depth d the attention of layer_types[d] (Gemma 2/3's sliding windows), as transformers
    gives layer d: the list must name full or sliding attention for every depth (rrt convert writes
    it so, each depth with its source layer's type)."""
    types = config.get("layer_types")
    if not arch.sliding_layers or types is None:
        return
    if not isinstance(types, list) or len(types) != n_layers:
        got = f"{len(types)} entries" if isinstance(types, list) else json.dumps(types)
        raise RrtTorchError("unsupported", f'config.json: "layer_types" has {got} for {n_layers} depths; rrt gives depth d the attention of layer_types[d], so it needs one entry per depth')
    other = sorted({json.dumps(t) for t in types if t not in ("full_attention", "sliding_attention")})
    if other:
        raise RrtTorchError("unsupported", f'config.json: "layer_types" holds {", ".join(other)}; rrt runs full_attention and sliding_attention layers only')


def _floats(config_class, hf_dict: dict) -> None:
    """rrt writes config.json from JavaScript, where 10.0 comes out as 10, and transformers' strict
    configs refuse an int in a field typed float (Gemma 2's final_logit_softcapping)."""
    if not dataclasses.is_dataclass(config_class):
        return
    for f in dataclasses.fields(config_class):
        v = hf_dict.get(f.name)
        allowed = typing.get_args(f.type) or (f.type,)
        if isinstance(v, int) and not isinstance(v, bool) and float in allowed and int not in allowed:
            hf_dict[f.name] = float(v)


def build_unrolled_model(config: dict) -> nn.Module:
    """The source architecture at the unrolled depth, f32, eager attention (the one that matches
    rrt's order of operations, with Gemma's score soft-cap and sliding-window masks), dropout 0:
    rrt trains without it, and GPT-2's configs ask for 0.1. config.json already counts the
    unrolled depths, and its per-layer lists (layer_types) are indexed by depth as rrt reads them."""
    hf_dict = {k: v for k, v in config.items() if k != "recursive"}
    for k, v in hf_dict.items():
        if (k.endswith("dropout") or k.endswith("pdrop")) and isinstance(v, (int, float)):
            hf_dict[k] = 0.0
    config_class = CONFIG_MAPPING[config["model_type"]]
    _floats(config_class, hf_dict)
    hf_config = config_class.from_dict(hf_dict)
    model = AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager", dtype=torch.float32)
    return model.float().eval()


def load(directory: str, *, trainable: bool = True) -> nn.Module:
    """Loads an rrt recursive checkpoint; a PEFT model when it has adapters, else the transformers model.

    With trainable (the default, rrt train's --train all) every parameter, shared block
    included, requires grad; PEFT alone would freeze all but the adapters.
    """
    directory = os.path.abspath(directory)
    config = _read_config(directory)
    model_type = config.get("model_type")
    arch = architecture_for(str(model_type))
    n_layers = config.get(layer_count_key(config))
    block = parse_recursive_block(config.get("recursive"), n_layers)
    _check_layer_types(arch, config, n_layers)
    tensors, metadata = read_safetensors(os.path.join(directory, "model.safetensors"))

    model = build_unrolled_model(config)
    unrolled = block["plan"]["unrolled"]
    shared_norms = block["sharedNorms"]
    used: set = set()

    def parameter_from(name: str, want: torch.Size) -> nn.Parameter:
        if name not in tensors:
            raise RrtTorchError("format", f"the recursive block and the tensors disagree: {name} is missing from model.safetensors")
        t = tensors[name]
        if t.shape != want:
            raise RrtTorchError("format", f"tensor {name} has shape {list(t.shape)}, the config implies {list(want)}")
        used.add(name)
        return nn.Parameter(t)

    layer_re = re.compile(rf"^{re.escape(arch.layer_prefix)}\.(\d+)\.(.+)$")
    slot_params: dict = {}
    global_names, suffixes = [], []
    head = model.get_output_embeddings()
    tied_head = getattr(model.config, "tie_word_embeddings", False)
    head_stored = True
    for name, p in list(model.named_parameters(remove_duplicate=False)):
        m = layer_re.match(name)
        if m is None:
            if tied_head and head is not None and p is head.weight and arch.checkpoint_name(name) not in tensors:
                head_stored = False
                continue  # tied to the embedding below
            _set_parameter(model, name, parameter_from(arch.checkpoint_name(name), p.shape))
            global_names.append(name)
            continue
        depth, suffix = int(m.group(1)), m.group(2)
        if depth == 0:
            suffixes.append(suffix)
        if not shared_norms and is_norm_or_bias(suffix):
            _set_parameter(model, name, parameter_from(per_depth_name(depth, suffix), p.shape))
            continue
        slot = unrolled[depth]["slot"]
        key = (slot, suffix)
        if key not in slot_params:
            slot_params[key] = parameter_from(depth_name(arch, slot, suffix), p.shape)
        _set_parameter(model, name, slot_params[key])  # the tie: one Parameter, several modules
    if not head_stored:
        head.weight = model.get_input_embeddings().weight

    targets = _lora_targets(arch, block, tensors, model)
    leftover = sorted(set(tensors) - used - {n for d, mod in _adapter_sites(arch, block) for n in lora_names(d, mod)})
    if leftover:
        raise RrtTorchError("format", f"the recursive block and the tensors disagree: model.safetensors holds {len(leftover)} tensor(s) it does not account for ({', '.join(leftover[:4])})")

    info = CheckpointInfo(directory, config, metadata, arch, global_names, suffixes, targets)
    model.rrt_checkpoint = info
    if block.get("loopNorm"):
        _norm_between_loops(model, arch, block)
    if targets:
        model = _attach_adapters(model, arch, block, tensors, targets)
    for p in model.parameters():
        p.requires_grad_(trainable)
    return model


def final_norm(hf: nn.Module) -> nn.Module:
    """The norm before the LM head: model.norm, GPT-2's transformer.ln_f, GPT-NeoX's final_layer_norm."""
    base = hf.get_decoder() if hasattr(hf, "get_decoder") else None
    for owner, name in ((base, "norm"), (base, "final_layer_norm"), (base, "ln_f"), (getattr(hf, "transformer", None), "ln_f"), (getattr(hf, "gpt_neox", None), "final_layer_norm")):
        if owner is not None and hasattr(owner, name):
            return getattr(owner, name)
    raise RrtTorchError("unsupported", f"no final norm found on {type(hf).__name__}")


def _norm_between_loops(hf: nn.Module, arch: Architecture, block: dict) -> None:
    """rrt's loopNorm: the last depth of every loop but the last hands on the final norm of its
    output (the same weights as before the head). A forward hook, so that it also holds with a
    KV cache; transformers' own save_pretrained knows nothing of it."""
    norm = final_norm(hf)
    layers = hf.get_submodule(arch.layer_prefix)

    def normed(_module, _args, out):
        if isinstance(out, tuple):
            return (norm(out[0]), *out[1:])
        return norm(out)

    for e in loop_ends(block)[:-1]:
        layers[e].register_forward_hook(normed)


def _adapter_sites(arch: Architecture, block: dict):
    """(depth, module path) of every adapter the block promises: relaxed projections of non-unique depths."""
    ranks = lora_ranks(block)
    for proj in ranks:
        if proj not in arch.modules:
            raise RrtTorchError("format", f'config.json "recursive": LoRA rank for projection "{proj}", which {arch.model_type} does not have ({", ".join(arch.modules)})')
    for d, u in enumerate(block["plan"]["unrolled"]):
        if not u["unique"]:
            for proj in ranks:
                yield d, arch.modules[proj]


def _lora_targets(arch: Architecture, block: dict, tensors: dict, model: nn.Module) -> dict:
    """Module path -> rank for every adapter, checked against the stored factors."""
    ranks = lora_ranks(block)
    by_module = {arch.modules[p]: r for p, r in ranks.items() if p in arch.modules}
    targets = {}
    for d, module in _adapter_sites(arch, block):
        a_name, b_name = lora_names(d, module)
        for n in (a_name, b_name):
            if n not in tensors:
                raise RrtTorchError("adapter", f"the recursive block lists LoRA rank {by_module[module]} for {module}, but {n} is missing from model.safetensors")
        base = model.get_submodule(depth_name(arch, d, module))
        d_out, d_in = _out_in(base, arch)
        r = by_module[module]
        a, b = tensors[a_name], tensors[b_name]
        if list(a.shape) != [r, d_in] or list(b.shape) != [d_out, r]:
            raise RrtTorchError(
                "adapter",
                f"LoRA rank mismatch at depth {d} {module}: the recursive block says rank {r} (A [{r}, {d_in}], B [{d_out}, {r}]), "
                f"the checkpoint stores A {list(a.shape)} and B {list(b.shape)}",
            )
        targets[depth_name(arch, d, module)] = r
    return targets


def _out_in(module: nn.Module, arch: Architecture) -> tuple[int, int]:
    w = module.weight
    return (w.shape[1], w.shape[0]) if arch.fan_in_fan_out else (w.shape[0], w.shape[1])


def _attach_adapters(model: nn.Module, arch: Architecture, block: dict, tensors: dict, targets: dict) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    # lora_alpha = r for every module: PEFT's scaling alpha/r is then 1, rrt's y = x·Wᵀ + (x·Aᵀ)·Bᵀ.
    # Patterns are escaped module paths: PEFT reads them as regular expressions.
    pattern = {re.escape(name): r for name, r in targets.items()}
    top = max(targets.values())
    lora_config = LoraConfig(
        r=top, lora_alpha=top, target_modules=list(targets), rank_pattern=pattern, alpha_pattern=pattern,
        lora_dropout=0.0, bias="none", fan_in_fan_out=arch.fan_in_fan_out, init_lora_weights=False,
    )
    peft_model = get_peft_model(model, lora_config)
    with torch.no_grad():
        for name, r in targets.items():
            layer = model.get_submodule(name)
            a_name, b_name = lora_names(*split_depth_name(arch, name))
            layer.lora_A["default"].weight.copy_(tensors[a_name])
            layer.lora_B["default"].weight.copy_(tensors[b_name])
            if layer.scaling["default"] != 1.0 or layer.r["default"] != r:
                raise RrtTorchError("adapter", f"PEFT made {name} rank {layer.r['default']} scaling {layer.scaling['default']}; rrt needs rank {r} scaling 1")
    return peft_model
