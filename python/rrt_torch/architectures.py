"""What the bridge needs to know of each source architecture: where its layers live and
which module carries each of rrt's projections. Everything else (tensor names, shapes,
GPT-2's Conv1D orientation) is the same in transformers' modules and in the checkpoint,
because rrt stores slot s under the Hugging Face names of layer s."""

from dataclasses import dataclass, field

from .errors import RrtTorchError


@dataclass(frozen=True)
class Architecture:
    model_type: str
    # transformers' module path of the decoder layers: '{prefix}.{i}.'
    layer_prefix: str
    # rrt's projection name -> module path inside one layer
    modules: dict
    # GPT-2's Conv1D stores weights [in, out]; PEFT must know to merge them that way
    fan_in_fan_out: bool = False
    # transformers' parameter name -> the checkpoint's, where transformers renamed a module
    renames: dict = field(default_factory=dict)
    # config.json's layer_types gives each depth full or sliding-window attention (Gemma 2/3)
    sliding_layers: bool = False

    def checkpoint_name(self, param_name: str) -> str:
        return self.renames.get(param_name, param_name)


_LLAMA_MODULES = {
    "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
    "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
}

ARCHITECTURES = {
    a.model_type: a
    for a in [
        Architecture("llama", "model.layers", _LLAMA_MODULES),
        Architecture("mistral", "model.layers", _LLAMA_MODULES),
        Architecture("qwen2", "model.layers", _LLAMA_MODULES),
        Architecture("qwen3", "model.layers", _LLAMA_MODULES),
        Architecture("olmo2", "model.layers", _LLAMA_MODULES),
        # rrt keeps Phi-3's fused projections fused: one slot tensor, one adapter each
        Architecture("phi3", "model.layers", {"qkv": "self_attn.qkv_proj", "o": "self_attn.o_proj", "gateUp": "mlp.gate_up_proj", "down": "mlp.down_proj"}),
        Architecture("gemma", "model.layers", _LLAMA_MODULES),
        # Gemma 2/3's four norms a layer and Gemma 3's q_norm/k_norm are norms of the layer like
        # any other (is_norm_or_bias); the projections are Llama's
        Architecture("gemma2", "model.layers", _LLAMA_MODULES, sliding_layers=True),
        Architecture("gemma3_text", "model.layers", _LLAMA_MODULES, sliding_layers=True),
        Architecture("gpt2", "transformer.h", {"qkv": "attn.c_attn", "o": "attn.c_proj", "up": "mlp.c_fc", "down": "mlp.c_proj"}, fan_in_fan_out=True),
        Architecture("gpt_neox", "gpt_neox.layers", {"qkv": "attention.query_key_value", "o": "attention.dense", "up": "mlp.dense_h_to_4h", "down": "mlp.dense_4h_to_h"},
                     renames={"lm_head.weight": "embed_out.weight"}),
    ]
}


def architecture_for(model_type: str) -> Architecture:
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise RrtTorchError("unsupported", f'architecture "{model_type}" is not supported; the bridge reads {", ".join(sorted(ARCHITECTURES))}')
    return arch


def layer_count_key(config: dict) -> str:
    """GPT-2 counts its layers in n_layer, the others in num_hidden_layers (as rrt writes them)."""
    return "n_layer" if "n_layer" in config else "num_hidden_layers"


def is_norm_or_bias(suffix: str) -> bool:
    """rrt's isNormOrBias on HF names: every norm of a layer (the block's two, OLMo-2's post-sublayer
    ones, Gemma 2/3's four, Qwen3/OLMo-2/Gemma 3's q_norm and k_norm inside self_attn) and every
    bias; per depth after --untie-norms."""
    *path, _ = suffix.split(".")
    module = path[-1] if path else ""
    return "norm" in module or module.startswith("ln_") or suffix.endswith(".bias")
