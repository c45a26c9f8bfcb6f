"""FSDP2 with one group per slot: the gradients of two ranks, each on half the batch, are the
one-process gradients of the whole batch (FSDP averages them, the halves have equal counts);
save() gathers the shards back into rrt's file."""

import filecmp
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import rrt_torch
from conftest import rel

IDS = torch.tensor([[1, 5, 9, 33, 7, 100, 201, 3], [100, 200, 3, 4, 5, 6, 400, 12]])


# llama-loop-norm: the final norm (root group) also runs inside the slots' groups, between loops
@pytest.mark.parametrize("name", ["llama-untied", "llama-loop-norm"])
def test_fsdp2_sharded_by_slot_gives_the_one_process_gradients(checkpoints, tmp_path, name):
    src = checkpoints(name)
    out = str(tmp_path / "grads.safetensors")
    worker = os.path.join(os.path.dirname(__file__), "fsdp_worker.py")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", worker, src, out, str(tmp_path / "saved")],
                       capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    sharded = load_file(out)
    # saved from the shards, untrained: rrt's file again, byte for byte
    for f in ("model.safetensors", "config.json"):
        assert filecmp.cmp(os.path.join(src, f), os.path.join(tmp_path, "saved", f), shallow=False)

    model = rrt_torch.load(src)
    logits, exits = rrt_torch.forward_with_exits(model, IDS)
    labels = torch.cat([IDS[:, 1:], torch.full((2, 1), -100)], dim=1)
    rrt_torch.training_loss(logits, labels, exits=exits, exit_loss="aggressive")["loss"].backward()
    tensors = rrt_torch.collect_tensors(model)
    assert set(sharded) == set(tensors)
    bad = {n: rel(sharded[n], t.grad) for n, t in tensors.items() if not rel(sharded[n], t.grad) < 1e-4}
    assert not bad
