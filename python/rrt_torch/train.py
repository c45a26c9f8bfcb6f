"""A plain uptraining loop for an rrt checkpoint in PyTorch, single process, DDP or DeepSpeed ZeRO-1/2:

    python -m rrt_torch.train --model DIR --data X.bin --out RUN --steps 100
    torchrun --nproc_per_node 2 -m rrt_torch.train --model DIR --data X.bin --out RUN --steps 100
    torchrun --nproc_per_node 2 -m rrt_torch.train --zero 2 --model DIR --data X.bin --out RUN --steps 100

(python/rrt_torch/train.py runs the same way as a script.) The objective is rrt train's: CE mixed
with forward-KL distillation from the teacher, optional exit losses; AdamW (β 0.9/0.95, weight
decay on matrices but not embeddings), warm-up then cosine decay to 10 %, global-norm clipping.
--batch-size is the GLOBAL batch: every process draws the same windows from the same seed and
takes its share of the rows, so a run's data does not depend on the number of processes.
Rank 0 writes RUN/metrics.jsonl (losses of the global batch) and RUN/model (an rrt checkpoint)."""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

if __package__ in (None, ""):  # run as a file: python python/rrt_torch/train.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "rrt_torch"

from rrt_torch.errors import RrtTorchError  # noqa: E402
from rrt_torch.load import load  # noqa: E402
from rrt_torch.losses import EXIT_LOSSES, forward_with_exits, training_loss  # noqa: E402
from rrt_torch.save import save, unwrap  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="uptrain an rrt recursive checkpoint with PyTorch (DDP under torchrun)")
    p.add_argument("--model", required=True, help="rrt recursive checkpoint directory")
    p.add_argument("--data", required=True, help="packed token file from `rrt data prepare` (X.bin beside X.bin.json)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step, over all processes")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=None, help="default: 10 %% of steps")
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--adam-eps", type=float, default=1e-8)
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm (0: off)")
    p.add_argument("--teacher", default=None, help="HF model directory; default: the checkpoint's source when it is one; none: no distillation")
    p.add_argument("--distill-weight", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--exit-loss", choices=EXIT_LOSSES, default="none")
    p.add_argument("--exit-weight", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads per process")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N; default: this process's GPU (LOCAL_RANK) when CUDA is available, else the CPU")
    p.add_argument("--force", action="store_true", help="replace an existing run directory's model")
    p.add_argument("--zero", type=int, choices=(1, 2), default=None,
                   help="train through DeepSpeed's engine with ZeRO stage 1 or 2 (under torchrun or the deepspeed launcher)")
    p.add_argument("--local_rank", "--local-rank", type=int, help=argparse.SUPPRESS)  # the deepspeed launcher's; LOCAL_RANK is read instead
    return p.parse_args(argv)


def open_tokens(path: str) -> np.ndarray:
    """rrt's token file: raw little-endian uint16/uint32 ids, described by X.bin.json."""
    with open(path + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != "rrt-tokens":
        raise RrtTorchError("format", f"{path}.json is not an rrt token file sidecar (rrt data prepare writes one)")
    dtype = {"uint16": "<u2", "uint32": "<u4"}[meta["dtype"]]
    tokens = np.memmap(path, dtype=dtype, mode="r")
    if len(tokens) != meta["tokens"]:
        raise RrtTorchError("format", f"{path} holds {len(tokens)} tokens, its sidecar says {meta['tokens']}")
    return tokens


def learning_rate(step: int, lr: float, steps: int, warmup: int, min_ratio: float) -> float:
    """rrt's cosine schedule (src/train/schedule.ts)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    lo = lr * min_ratio
    t = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lo + 0.5 * (lr - lo) * (1 + math.cos(math.pi * t))


def default_teacher(model, arg):
    if arg == "none":
        return None
    if arg:
        return arg
    src = unwrap(model).rrt_checkpoint.block["source"]["model"]
    if os.path.isdir(src) and os.path.exists(os.path.join(src, "config.json")):
        return src
    raise RrtTorchError("format", f"the checkpoint's source {src} is not a Hugging Face directory transformers can load: pass --teacher DIR (rrt export SOURCE DIR writes one) or --teacher none")


def load_teacher(path):
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).float().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def param_groups(model, weight_decay: float):
    """Decay on matrices, not on embeddings, norms, biases (rrt's selectParams); shared parameters once."""
    hf = unwrap(model)
    embeddings = {id(hf.get_input_embeddings().weight), id(hf.get_output_embeddings().weight)}
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():  # parameters() yields a shared Parameter once
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.dim() == 2 and id(p) not in embeddings else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def deepspeed_config(a, world: int) -> dict:
    """The engine's config: fp32, one micro-batch per step, train.py's clipping. The optimizer and
    the learning rate stay train.py's (torch's AdamW, set each step), so the math is the same."""
    return {
        "train_batch_size": a.batch_size,
        "train_micro_batch_size_per_gpu": a.batch_size // world,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": max(a.clip, 0.0),  # 0: off, as --clip 0
        "zero_optimization": {"stage": a.zero},
        "steps_per_print": 2 ** 31 - 1,  # train.py reports its own metrics
    }


def pick_device(arg):
    """The device this process trains on; under a launcher, GPU LOCAL_RANK."""
    device = torch.device(arg) if arg else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if device.type not in ("cpu", "cuda"):
        raise RrtTorchError("unsupported", f"--device {arg}: train.py runs on cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RrtTorchError("unsupported", f"--device {arg}: CUDA is not available")
        torch.cuda.set_device(device)
    return device


def main(argv=None):
    a = parse_args(argv)
    device = pick_device(a.device)
    if a.zero:
        import deepspeed

        if "WORLD_SIZE" not in os.environ:
            raise RrtTorchError("unsupported", "--zero runs under a launcher (torchrun or deepspeed), which sets WORLD_SIZE and RANK")
        accelerator = deepspeed.get_accelerator().device_name()
        if accelerator != device.type:  # the engine moves the model to its accelerator; the batches go to `device`
            hint = "set DS_ACCELERATOR=cpu" if device.type == "cpu" else "install DeepSpeed's CUDA accelerator"
            raise RrtTorchError("unsupported", f"train.py trains on {device.type} and DeepSpeed chose its {accelerator} accelerator: {hint}")
        # DeepSpeed would compile its shared-memory all-reduce here (g++, ~40 s): only its inference
        # kernels use it, ZeRO's collectives are gloo's. Marked unbuildable, it is skipped.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        deepspeed.init_distributed()  # gloo, the CPU accelerator's backend
    distributed = a.zero is not None or ("WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.batch_size % world:
        raise RrtTorchError("format", f"--batch-size {a.batch_size} does not split over {world} processes")
    torch.manual_seed(a.seed)

    model = load(a.model).to(device)
    teacher_dir = default_teacher(model, a.teacher)
    teacher = load_teacher(teacher_dir).to(device) if teacher_dir else None
    groups = param_groups(model, a.weight_decay)
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.95), eps=a.adam_eps)
    engine = None
    if a.zero:
        # each shared parameter once (param_groups dedups); ZeRO flattens them into its own
        # buffers and steps `opt` on this rank's partition, so `opt`'s lr is still the one to set
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=deepspeed_config(a, world))
        model = engine
        if rank == 0:
            print(f"DeepSpeed {deepspeed.__version__}: ZeRO stage {engine.zero_optimization_stage()} "
                  f"({type(engine.optimizer).__name__} over torch's AdamW) on {world} processes", flush=True)
    elif distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    tokens = open_tokens(a.data)
    T = a.seq_len
    if len(tokens) < T + 2:
        raise RrtTorchError("format", f"{a.data} holds {len(tokens)} tokens, too few for sequences of {T}")
    rng = np.random.default_rng(a.seed)
    warmup = a.warmup if a.warmup is not None else a.steps // 10
    share = a.batch_size // world
    os.makedirs(a.out, exist_ok=True)
    metrics = open(os.path.join(a.out, "metrics.jsonl"), "w") if rank == 0 else None
    start = time.time()
    for step in range(a.steps):
        starts = rng.integers(0, len(tokens) - T - 1, size=a.batch_size)  # the same on every rank
        mine = starts[rank * share:(rank + 1) * share]
        windows = torch.from_numpy(np.stack([np.asarray(tokens[s:s + T + 1], dtype=np.int64) for s in mine]))
        windows = windows.to(device)
        inputs, targets = windows[:, :-1], windows[:, 1:]
        lr = learning_rate(step, a.lr, a.steps, warmup, a.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        if a.exit_loss != "none":
            logits, exits = forward_with_exits(model, inputs)
        else:
            logits, exits = model(input_ids=inputs, use_cache=False).logits, []
        teacher_logits = None
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(input_ids=inputs, use_cache=False).logits
        parts = training_loss(logits, targets, teacher_logits=teacher_logits, distill_weight=a.distill_weight,
                              temperature=a.temperature, exits=exits, exit_loss=a.exit_loss, exit_weight=a.exit_weight)
        loss = parts["loss"]
        if not torch.isfinite(loss):
            raise RrtTorchError("format", f"loss became {loss.item()} at step {step + 1}: try a lower learning rate or more warm-up")
        if engine is not None:
            engine.backward(loss)  # ZeRO reduces the averaged gradients to the rank that owns each partition
            engine.step()  # clips by the global norm, steps the partitions, gathers the parameters back
            norm = engine.get_global_grad_norm()
        else:
            opt.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over ranks here: equal shares make it the global mean
            norm = torch.nn.utils.clip_grad_norm_(params, a.clip if a.clip > 0 else float("inf"))
            opt.step()
        logged = {"loss": loss.item(), "ce": parts["ce"], "kd": parts["kd"], "exitCe": parts["exit_ce"]}
        if distributed:  # metrics of the global batch: the mean of the ranks' equal shares
            names = [k for k, v in logged.items() if v is not None]
            values = torch.tensor([logged[k] for k in names], dtype=torch.float64, device=device)  # NCCL reduces GPU tensors only
            dist.all_reduce(values)
            logged.update({k: v / world for k, v in zip(names, values.tolist())})
        if metrics:
            line = {"step": step + 1, **logged,
                    "lr": lr, "gradNorm": float(norm), "seconds": time.time() - start}
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
            if (step + 1) % 10 == 0 or step + 1 == a.steps:
                print(f"step {step + 1}/{a.steps} loss {line['loss']:.4f} ce {line['ce']:.4f} lr {lr:.2e} {line['seconds']:.1f}s", flush=True)
    if rank == 0:
        save(model, os.path.join(a.out, "model"), force=a.force)
        metrics.close()
        print(f"saved {os.path.join(a.out, 'model')} after {a.steps} steps in {time.time() - start:.1f}s", flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except RrtTorchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
