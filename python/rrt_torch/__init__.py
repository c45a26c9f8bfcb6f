"""PyTorch bridge for rrt's Relaxed Recursive Transformer checkpoints (docs/checkpoint-format.md):
load one into transformers + PEFT with the slots' weights tied across depths, train it with
rrt's objective, save it back in rrt's format."""

from .errors import RrtTorchError
from .load import load
from .losses import forward_with_exits, kl_divergence, training_loss
from .save import collect_tensors, save, unwrap

__all__ = ["RrtTorchError", "load", "save", "collect_tensors", "unwrap", "training_loss", "kl_divergence", "forward_with_exits"]
