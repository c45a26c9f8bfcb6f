"""train.py: a few steps in one process and the same global batch over two DDP processes (gloo),
or two DeepSpeed ZeRO-2 processes on DeepSpeed's CPU accelerator, end at the same weights, and the
saved run is an rrt checkpoint rrt reads."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import load_file

from conftest import REPO, rrt

TRAIN = os.path.join(REPO, "python", "rrt_torch", "train.py")


def token_file(path, n=4096, vocab=512, seed=1):
    """A packed token file as rrt data prepare writes it (raw little-endian uint16 + sidecar)."""
    np.random.default_rng(seed).integers(0, vocab, size=n).astype("<u2").tofile(path)
    with open(path + ".json", "w") as f:
        json.dump({"format": "rrt-tokens", "version": 1, "dtype": "uint16", "tokens": n, "documents": 1, "vocabSize": vocab}, f)
    return path


def run_training(out, model, data, procs, extra=(), env=None):
    """train.py for 3 steps of a global batch of 4 (one process, or torchrun's); its stdout."""
    args = ["--model", model, "--data", data, "--out", out, "--steps", "3", "--batch-size", "4", "--seq-len", "16",
            "--lr", "1e-3", "--warmup", "1", "--exit-loss", "aggressive", "--threads", "1", *extra]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)] if procs > 1 else [sys.executable]
    r = subprocess.run([*launcher, TRAIN, *args], capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


# Adam divides by √v: an entry whose gradient is ~eps moves by ~lr whichever way the last bits
# of its gradient fall. A larger eps keeps the comparison about the gradients, which the
# distributed runs must reproduce to float tolerance (summation order differs with the processes).
FLAGS = ["--adam-eps", "1e-6"]


def assert_same_training(model, tmp_path, one, two):
    """Runs `one` and `two` (under tmp_path) end at the same weights and gradient norms; `two` is a checkpoint rrt reads."""
    weights = {run: load_file(os.path.join(tmp_path, run, "model", "model.safetensors")) for run in (one, two)}
    start = load_file(os.path.join(model, "model.safetensors"))
    assert set(weights[one]) == set(weights[two]) == set(start)
    moved = {n: (weights[one][n] - start[n]).abs().max() for n in start}
    assert all(m > 0 for m in moved.values()), "every stored tensor trains"
    worst = max(((weights[one][n] - weights[two][n]).abs().max() / moved[n]).item() for n in start)
    assert worst < 2e-3, f"{one} and {two} differ by {worst:.2g} of a 3-step update"
    norms = [[json.loads(line)["gradNorm"] for line in open(tmp_path / run / "metrics.jsonl")] for run in (one, two)]
    assert norms[0] == pytest.approx(norms[1], rel=1e-5)
    assert "cycle: 3 shared layers × 2 loops = 6 unrolled" in rrt("info", os.path.join(tmp_path, two, "model"))
    metrics = [json.loads(line) for line in open(tmp_path / two / "metrics.jsonl")]
    assert [m["step"] for m in metrics] == [1, 2, 3] and all(m["kd"] is not None and m["exitCe"] is not None for m in metrics)


def test_two_process_ddp_matches_one_process(checkpoints, tmp_path):
    model = checkpoints("llama")  # its default teacher is the fixture it was converted from
    data = token_file(str(tmp_path / "tokens.bin"))
    run_training(str(tmp_path / "one"), model, data, 1, FLAGS)
    run_training(str(tmp_path / "two"), model, data, 2, FLAGS)
    assert_same_training(model, tmp_path, "one", "two")


def test_two_process_deepspeed_zero2_matches_one_process(checkpoints, tmp_path):
    deepspeed = pytest.importorskip("deepspeed")
    model = checkpoints("llama")
    data = token_file(str(tmp_path / "tokens.bin"))
    run_training(str(tmp_path / "one"), model, data, 1, FLAGS)
    # DeepSpeed picks CUDA where it finds it; train.py runs on the CPU
    out = run_training(str(tmp_path / "zero2"), model, data, 2, [*FLAGS, "--zero", "2"], env={"DS_ACCELERATOR": "cpu"})
    assert f"DeepSpeed {deepspeed.__version__}: ZeRO stage 2 (DeepSpeedZeroOptimizer over torch's AdamW) on 2 processes" in out
    assert_same_training(model, tmp_path, "one", "zero2")


def test_a_source_transformers_cannot_load_needs_a_teacher(tmp_path):
    stories = os.path.join(REPO, "assets", "stories260K", "stories260K.bin")
    model = str(tmp_path / "stories")
    rrt("convert", stories, model, "--loops", "2")
    data = token_file(str(tmp_path / "tokens.bin"))
    r = subprocess.run([sys.executable, TRAIN, "--model", model, "--data", data, "--out", str(tmp_path / "run"), "--steps", "1"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "is not a Hugging Face directory transformers can load: pass --teacher DIR (rrt export SOURCE DIR writes one)" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_device_this_machine_lacks_is_refused(checkpoints, tmp_path):
    import torch

    data = token_file(str(tmp_path / "tokens.bin"))
    for device, message in [("mps", "--device mps: train.py runs on cpu or cuda"), ("cuda", "--device cuda: CUDA is not available")]:
        if device == "cuda" and torch.cuda.is_available():
            continue
        r = subprocess.run([sys.executable, TRAIN, "--model", checkpoints("llama"), "--data", data, "--out", str(tmp_path / device),
                            "--steps", "1", "--device", device], capture_output=True, text=True)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert not os.path.exists(tmp_path / device / "model")
