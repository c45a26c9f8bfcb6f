"""Test checkpoints are made by rrt itself (node bin/rrt.js convert) from the HF fixtures, and
rrt's reference numbers by scripts/torch-reference.ts; both need node and the built package."""

import atexit
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "fixtures", "hf")

# name -> (fixture, rrt convert flags[, keys set in the "recursive" block after conversion])
CHECKPOINTS = {
    "llama": ("llama", ["--loops", "2", "--lora-rank", "4"]),
    "llama-strict": ("llama", ["--loops", "2"]),
    "llama-untied": ("llama", ["--loops", "3", "--lora-rank", "4", "--untie-norms"]),
    "llama-tied-head": ("llama-tied", ["--loops", "2", "--lora-rank", "4"]),
    "llama-average": ("llama", ["--loops", "2", "--lora-rank", "4", "--init", "average"]),
    "llama-middle-cycle": ("llama", ["--loops", "2", "--lora-rank", "4", "--strategy", "middle-cycle"]),
    "llama-sequence": ("llama", ["--loops", "2", "--lora-rank", "4", "--strategy", "sequence", "--untie-norms"]),
    "qwen2": ("qwen2", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    "gemma": ("gemma", ["--loops", "2", "--lora-rank", "4"]),
    "gpt2": ("gpt2", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    "gpt-neox": ("gpt-neox", ["--loops", "2", "--lora-rank", "4"]),
    # per-head q_norm/k_norm: shared per slot, or per depth with --untie-norms
    "qwen3": ("qwen3", ["--loops", "2", "--lora-rank", "4"]),
    "qwen3-strict": ("qwen3", ["--loops", "2"]),
    "qwen3-untied": ("qwen3", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    # norms after each sublayer, q_norm/k_norm over the whole projection
    "olmo2": ("olmo2", ["--loops", "2", "--lora-rank", "4"]),
    "olmo2-strict": ("olmo2", ["--loops", "2"]),
    "olmo2-untied": ("olmo2", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    # fused qkv_proj and gate_up_proj, partial rotary; longrope within its original context
    "phi3": ("phi3", ["--loops", "2", "--lora-rank", "4"]),
    "phi3-strict": ("phi3", ["--loops", "2"]),
    "phi3-untied": ("phi3", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    "phi3-longrope": ("phi3-longrope", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    # sandwich norms (four a layer), attention and final soft-caps, sliding windows per
    # layer_types; Gemma 3: per-head q_norm/k_norm, the sliding layers' rotary base of their own
    "gemma2": ("gemma2", ["--loops", "2", "--lora-rank", "4"]),
    "gemma2-strict": ("gemma2", ["--loops", "2"]),
    "gemma2-untied": ("gemma2", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    "gemma3": ("gemma3", ["--loops", "2", "--lora-rank", "4"]),
    "gemma3-strict": ("gemma3", ["--loops", "2"]),
    "gemma3-untied": ("gemma3", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    # 2 slots × 3 loops over layer types S S F S S F: slot 0 runs sliding at depths 0 and 4,
    # full at depth 2 (a depth's attention is layer_types[depth], not its slot's)
    "gemma3-loops3": ("gemma3", ["--loops", "3", "--lora-rank", "4"]),
    # sliding windows (5, 6, 7) shorter than the 8-token test batch: Mistral and Phi-3 on every
    # layer, Qwen2 on the layers its layer_types name
    "mistral-swa": ("mistral-swa", ["--loops", "2", "--lora-rank", "4"]),
    "qwen2-swa": ("qwen2-swa", ["--loops", "2", "--lora-rank", "4", "--untie-norms"]),
    "phi3-swa": ("phi3-swa", ["--loops", "2", "--lora-rank", "4"]),
    # the final norm between loops, as a looped GGUF without skip_loop_final_norm loads (rrt's
    # convert never writes it: set in config.json as rrt's own tests do)
    "llama-loop-norm": ("llama", ["--loops", "3", "--lora-rank", "4"], {"loopNorm": True}),
    "llama-loop-norm-strict": ("llama", ["--loops", "2", "--untie-norms"], {"loopNorm": True}),
}

torch.set_num_threads(1)  # the tiny fixtures gain nothing from threads; the machine may be busy


def rrt(*args: str) -> str:
    r = subprocess.run(["node", os.path.join(REPO, "bin", "rrt.js"), *args], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"rrt {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def reference(model_dir: str, ids: torch.Tensor, out: str, *, teacher: str = "none", **opts) -> tuple[dict, dict]:
    """rrt's logits, exits, loss parts and gradients for one batch (scripts/torch-reference.ts)."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in opts.items()]
    cmd = ["node", "--import", "tsx", os.path.join(REPO, "scripts", "torch-reference.ts"), model_dir, out,
           "--ids", ",".join(str(int(i)) for i in ids.flatten()), "--batch", str(ids.shape[0]), "--teacher", teacher, *flags]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"torch-reference failed:\n{r.stderr}")
    return load_file(out), json.loads(r.stdout)


_CONVERTED_ROOT = tempfile.mkdtemp(prefix="rrt-torch-tests-")
atexit.register(shutil.rmtree, _CONVERTED_ROOT, True)
_converted: dict = {}


def converted(name: str) -> str:
    """The checkpoint `name` of CHECKPOINTS, converted by rrt once for the whole test run."""
    if name not in _converted:
        fixture, flags, *block = CHECKPOINTS[name]
        dst = os.path.join(_CONVERTED_ROOT, name)
        rrt("convert", os.path.join(FIXTURES, fixture), dst, *flags)
        if block:
            set_in_block(dst, block[0])
        _converted[name] = dst
    return _converted[name]


def set_in_block(model_dir: str, values: dict) -> None:
    """Sets keys of config.json's "recursive" block, written as rrt writes config.json."""
    set_config(model_dir, recursive=values)


def set_config(model_dir: str, recursive: dict | None = None, **values) -> None:
    """Sets top-level keys of config.json (and keys of its "recursive" block), written as rrt writes config.json."""
    from rrt_torch import js_json

    path = os.path.join(model_dir, "config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config.update(values)
    config["recursive"].update(recursive or {})
    with open(path, "w", encoding="utf-8") as f:
        f.write(js_json.dumps(config) + "\n")


@pytest.fixture
def checkpoints():
    """checkpoints('llama') -> the directory of that converted checkpoint."""
    return converted


def targets_of(ids: torch.Tensor) -> torch.Tensor:
    """Next-token targets; each sequence's last position predicts nothing (as in the reference script)."""
    return torch.cat([ids[:, 1:], torch.full((ids.shape[0], 1), -100)], dim=1)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max |b|: relative to the reference's scale."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
