"""Run by test_fsdp.py under torchrun (2 processes, gloo): one FSDP2 backward pass with each
rank on its half of the batch; rank 0 writes every stored tensor's full gradient, then the model as saved from the shards."""

import sys

import torch
import torch.distributed as dist
from safetensors.torch import save_file

import rrt_torch
from rrt_torch.fsdp import shard_by_slot

checkpoint, out, saved = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()
ids = torch.tensor([[1, 5, 9, 33, 7, 100, 201, 3], [100, 200, 3, 4, 5, 6, 400, 12]])
model = shard_by_slot(rrt_torch.load(checkpoint))
logits, exits = rrt_torch.forward_with_exits(model, ids[rank:rank + 1])
labels = torch.cat([ids[rank:rank + 1, 1:], torch.full((1, 1), -100)], dim=1)
rrt_torch.training_loss(logits, labels, exits=exits, exit_loss="aggressive")["loss"].backward()
grads = {name: t.grad.full_tensor() for name, t in rrt_torch.collect_tensors(model).items()}
if rank == 0:
    save_file({k: v.contiguous() for k, v in grads.items()}, out)
rrt_torch.save(model, saved)  # every rank gathers, rank 0 writes
dist.barrier()
dist.destroy_process_group()
