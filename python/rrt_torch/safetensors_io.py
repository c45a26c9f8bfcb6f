"""Reading and writing model.safetensors exactly as rrt does, so that a checkpoint that went
through PyTorch untouched comes back byte for byte: tensors sorted by name, compact JSON header
(metadata first) padded with spaces to 8 bytes, little-endian f32 data in header order."""

import json
import os
import struct

import torch
from safetensors import safe_open

from .errors import RrtTorchError

QUANTIZED_KEY = "rrt.quantized"


def read_safetensors(path: str) -> tuple[dict, dict]:
    """All tensors (as f32 torch tensors) and the header's metadata."""
    if not os.path.exists(path):
        raise RrtTorchError("format", f"{path} is missing (rrt checkpoints keep every tensor in one model.safetensors)")
    metadata = _header_metadata(path)
    with safe_open(path, framework="pt") as f:
        if QUANTIZED_KEY in metadata:
            names = ", ".join(list(json.loads(metadata[QUANTIZED_KEY]))[:3])
            raise RrtTorchError(
                "unsupported",
                f"{path} stores quantized matrices as GGUF blocks ({names}, ...); the bridge reads f32 checkpoints only: "
                "use the f32 checkpoint this one was quantized from",
            )
        tensors = {}
        for name in f.keys():
            t = f.get_tensor(name)
            if t.dtype != torch.float32:
                t = t.to(torch.float32)
            tensors[name] = t
    return tensors, metadata


def _header_metadata(path: str) -> dict:
    """__metadata__ in the header's own key order (safetensors' metadata() does not keep it)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return dict(header.get("__metadata__") or {})


def write_safetensors(path: str, tensors: dict, metadata: dict) -> None:
    """Writes f32 tensors in rrt's layout (SafetensorsWriter in src/formats/safetensors.ts)."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = metadata
    at = 0
    order = sorted(tensors)
    for name in order:
        t = tensors[name]
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + n]}
        at += n
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for name in order:
            t = tensors[name].detach().to("cpu", torch.float32).contiguous()
            f.write(t.numpy().astype("<f4", copy=False).tobytes())
