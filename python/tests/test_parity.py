"""PyTorch forward, loss and gradients against rrt's own, on checkpoints rrt converted."""

import json
import os
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM

import rrt_torch
from conftest import FIXTURES, CHECKPOINTS, reference, rel, set_config, targets_of

IDS = torch.tensor([[1, 5, 9, 33, 7, 100, 201, 3], [100, 200, 3, 4, 5, 6, 400, 12]])

CASES = [
    # (checkpoint, loss options)
    ("llama", dict(exit_loss="none")),
    ("llama", dict(exit_loss="aggressive")),
    ("llama", dict(exit_loss="weighted", distill_weight=0.3, temperature=2.0)),
    ("llama-strict", dict(exit_loss="aggressive")),
    ("llama-untied", dict(exit_loss="weighted")),
    ("llama-tied-head", dict(exit_loss="aggressive", temperature=1.5)),
    ("llama-average", dict(exit_loss="none")),
    ("llama-middle-cycle", dict(exit_loss="aggressive")),
    ("llama-middle-cycle", dict(exit_loss="weighted")),
    ("llama-sequence", dict(exit_loss="none")),  # a sequence plan completes its block only at the end: no exits
    ("qwen2", dict(exit_loss="aggressive")),
    ("gemma", dict(exit_loss="aggressive")),
    ("gpt2", dict(exit_loss="aggressive")),
    ("gpt-neox", dict(exit_loss="aggressive")),
    ("qwen3", dict(exit_loss="aggressive")),
    ("qwen3-strict", dict(exit_loss="weighted")),
    ("qwen3-untied", dict(exit_loss="aggressive", distill_weight=0.3, temperature=2.0)),
    ("olmo2", dict(exit_loss="aggressive")),
    ("olmo2-strict", dict(exit_loss="weighted")),
    ("olmo2-untied", dict(exit_loss="aggressive", distill_weight=0.3, temperature=2.0)),
    ("phi3", dict(exit_loss="aggressive")),
    ("phi3-strict", dict(exit_loss="weighted")),
    ("phi3-untied", dict(exit_loss="aggressive", distill_weight=0.3, temperature=2.0)),
    ("phi3-longrope", dict(exit_loss="aggressive")),
    ("gemma2", dict(exit_loss="aggressive")),
    ("gemma2-strict", dict(exit_loss="weighted")),
    ("gemma2-untied", dict(exit_loss="aggressive", distill_weight=0.3, temperature=2.0)),
    ("gemma3", dict(exit_loss="aggressive")),
    ("gemma3-strict", dict(exit_loss="weighted")),
    ("gemma3-untied", dict(exit_loss="aggressive", distill_weight=0.3, temperature=2.0)),
    ("gemma3-loops3", dict(exit_loss="aggressive")),
    ("mistral-swa", dict(exit_loss="aggressive")),
    ("qwen2-swa", dict(exit_loss="weighted")),
    ("phi3-swa", dict(exit_loss="aggressive")),
    ("llama-loop-norm", dict(exit_loss="aggressive")),
    ("llama-loop-norm", dict(exit_loss="weighted")),
    ("llama-loop-norm-strict", dict(exit_loss="aggressive")),
]


@pytest.mark.parametrize("name,opts", CASES, ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for c, o in CASES])
def test_logits_loss_and_gradients_match_rrt(checkpoints, tmp_path, name, opts):
    src = checkpoints(name)
    teacher_dir = os.path.join(FIXTURES, CHECKPOINTS[name][0])
    ref, parts_ref = reference(src, IDS, str(tmp_path / "ref.safetensors"), teacher=teacher_dir, **opts)

    model = rrt_torch.load(src)
    if "sequence" in name:
        logits, exits = model(input_ids=IDS).logits, []
        with pytest.raises(rrt_torch.RrtTorchError, match="early exits need a cycle strategy"):
            rrt_torch.forward_with_exits(model, IDS)
    else:
        logits, exits = rrt_torch.forward_with_exits(model, IDS)
    assert rel(logits.detach(), ref["logits"]) < 1e-5
    assert len(exits) == len([k for k in ref if k.startswith("exit.")])
    for b, e in enumerate(exits):
        assert rel(e.detach(), ref[f"exit.{b}"]) < 1e-5, f"exit after loop {b + 1}"

    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, attn_implementation="eager", dtype=torch.float32).eval()
    with torch.no_grad():
        teacher_logits = teacher(input_ids=IDS).logits
    parts = rrt_torch.training_loss(logits, targets_of(IDS), teacher_logits=teacher_logits, exits=exits, **opts)
    assert abs(parts["loss"].item() - parts_ref["loss"]) <= 1e-4 * max(1.0, abs(parts_ref["loss"]))
    assert parts["ce"] == pytest.approx(parts_ref["ce"], rel=1e-4)
    assert parts["kd"] == pytest.approx(parts_ref["kd"], rel=1e-4, abs=1e-6)

    parts["loss"].backward()
    tensors = rrt_torch.collect_tensors(model)
    assert set(tensors) == {k[len("grad."):] for k in ref if k.startswith("grad.")}
    worst = {n: rel(t.grad, ref[f"grad.{n}"]) for n, t in tensors.items()}
    bad = {n: r for n, r in worst.items() if not r < 1e-4}
    assert not bad, f"gradients off: {bad}"


@pytest.mark.parametrize("name", ["gemma2", "gemma3"])
def test_the_gemma_windows_matter_on_the_test_sequence(checkpoints, tmp_path, name):
    """IDS is longer than the fixtures' sliding windows (6 and 5), so the parity above holds only
    with the windows applied: the same checkpoint with windows longer than the sequence gives other
    logits after the window, the same within it."""
    src = checkpoints(name)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    w = config["sliding_window"]
    assert "sliding_attention" in config["layer_types"] and w < IDS.shape[1]
    wide = str(tmp_path / "wide")
    shutil.copytree(src, wide)
    set_config(wide, sliding_window=config["max_position_embeddings"] - 1)
    with torch.no_grad():
        windowed, unwindowed = rrt_torch.load(src)(input_ids=IDS).logits, rrt_torch.load(wide)(input_ids=IDS).logits
    assert rel(unwindowed[:, w:], windowed[:, w:]) > 1e-2
    assert torch.equal(unwindowed[:, :w], windowed[:, :w])


@pytest.mark.parametrize("name", ["gemma2", "gemma3"])
def test_gemma_windows_as_long_as_the_context(checkpoints, tmp_path, name):
    """A window spanning the whole context is full attention; Gemma 3's sliding layers keep their
    own rotary base there, in rrt as in transformers."""
    wide = str(tmp_path / "wide")
    shutil.copytree(checkpoints(name), wide)
    with open(os.path.join(wide, "config.json")) as f:
        set_config(wide, sliding_window=json.load(f)["max_position_embeddings"])
    ref, _ = reference(wide, IDS, str(tmp_path / "ref.safetensors"))
    with torch.no_grad():
        logits = rrt_torch.load(wide)(input_ids=IDS).logits
    assert rel(logits, ref["logits"]) < 1e-5
