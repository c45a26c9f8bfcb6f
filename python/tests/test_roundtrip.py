"""rrt -> PyTorch -> rrt: untouched, the files come back byte for byte; trained, rrt reads
back exactly the weights PyTorch holds."""

import filecmp
import json
import os

import pytest
import torch

import rrt_torch
from conftest import CHECKPOINTS, reference, rel

STORIES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets", "stories260K", "stories260K.bin")


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_round_trip_is_byte_identical(checkpoints, tmp_path, name):
    src = checkpoints(name)
    dst = str(tmp_path / "back")
    rrt_torch.save(rrt_torch.load(src), dst)
    assert filecmp.cmp(os.path.join(src, "model.safetensors"), os.path.join(dst, "model.safetensors"), shallow=False)
    # the whole config.json, "recursive" block included, as rrt wrote it
    assert filecmp.cmp(os.path.join(src, "config.json"), os.path.join(dst, "config.json"), shallow=False)
    assert sorted(os.listdir(dst)) == sorted(os.listdir(src))


def test_round_trip_of_a_llama2c_conversion_keeps_its_tokenizer(tmp_path):
    from conftest import rrt

    src = str(tmp_path / "stories")
    rrt("convert", STORIES, src, "--loops", "2", "--lora-rank", "8")
    dst = str(tmp_path / "back")
    rrt_torch.save(rrt_torch.load(src), dst)
    for f in ("model.safetensors", "config.json", "tokenizer.bin"):
        assert filecmp.cmp(os.path.join(src, f), os.path.join(dst, f), shallow=False), f


@pytest.mark.parametrize("name", ["llama", "llama-untied", "gpt2", "qwen3-untied", "olmo2", "phi3-untied", "gemma2-untied", "gemma3", "llama-loop-norm"])
def test_rrt_reads_back_what_pytorch_trained(checkpoints, tmp_path, name):
    model = rrt_torch.load(checkpoints(name))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.tensor([[1, 5, 9, 33, 7, 100]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()  # moves every slot, norm, head and adapter
    dst = str(tmp_path / "trained")
    rrt_torch.save(model, dst)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    ref, _ = reference(dst, ids, str(tmp_path / "ref.safetensors"))
    assert rel(logits, ref["logits"]) < 1e-5
    with open(os.path.join(dst, "config.json")) as f:
        assert json.load(f)["recursive"] == rrt_torch.unwrap(model).rrt_checkpoint.block
