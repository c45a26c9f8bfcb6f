"""rrt's training objective (src/train/losses.ts) in PyTorch:

    loss = (1 − w)·CE + w·τ²·KL(teacher ‖ student, τ)                         (final output)
    aggressive: loss + Σ_b<B c·(CE_b + KL(detached final ‖ exit_b))           (c = 0.1, τ = 1)
    weighted:   α_B·loss + Σ_b<B α_b·CE_b,  α_b = b / Σ_j j

CE is the mean over targets that are not ignored (-100); KL the mean over all rows.
Exit logits are the final norm and LM head applied after each loop but the last (to the
stream before a loopNorm model's norm between loops, as rrt's decoder reads it)."""

import torch
import torch.nn.functional as F
from torch import nn

from .errors import RrtTorchError
from .load import final_norm
from .save import unwrap
from .spec import loop_ends

IGNORE_INDEX = -100
EXIT_LOSSES = ("none", "aggressive", "weighted")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX)


def kl_divergence(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean over rows of KL(teacher ‖ student) at temperature τ; the teacher carries no gradient."""
    V = student.shape[-1]
    log_s = F.log_softmax(student.reshape(-1, V).float() / temperature, dim=-1)
    log_t = F.log_softmax(teacher.detach().reshape(-1, V).float() / temperature, dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(-1).mean()


def training_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    teacher_logits: torch.Tensor | None = None,
    distill_weight: float = 0.5,
    temperature: float = 1.0,
    exits: list | tuple = (),
    exit_loss: str = "none",
    exit_weight: float = 0.1,
) -> dict:
    """{'loss', 'ce', 'kd', 'exit_ce'}: the loss to backpropagate and its parts (floats or None)."""
    if exit_loss not in EXIT_LOSSES:
        raise RrtTorchError("unsupported", f"exit loss must be one of {', '.join(EXIT_LOSSES)}, got {exit_loss}")
    ce = cross_entropy(logits, targets)
    main, kd = ce, None
    if teacher_logits is not None:
        if not 0 <= distill_weight <= 1:
            raise RrtTorchError("unsupported", f"distillation weight must be in [0, 1], got {distill_weight}")
        if not temperature > 0:
            raise RrtTorchError("unsupported", f"temperature must be positive, got {temperature}")
        kd = kl_divergence(logits, teacher_logits, temperature)
        main = (1 - distill_weight) * ce + distill_weight * temperature * temperature * kd
    parts = {"ce": ce.item(), "kd": kd.item() if kd is not None else None, "exit_ce": None}
    if exit_loss == "none" or not exits:
        return {"loss": main, **parts}
    exit_ces = [cross_entropy(e, targets) for e in exits]
    parts["exit_ce"] = sum(e.item() for e in exit_ces) / len(exit_ces)
    if exit_loss == "aggressive":
        final = logits.detach()
        loss = main
        for e, e_ce in zip(exits, exit_ces):
            loss = loss + exit_weight * (e_ce + kl_divergence(e, final, 1.0))
    else:
        n_loops = len(exits) + 1
        total = n_loops * (n_loops + 1) / 2
        loss = main * (n_loops / total)
        for b, e_ce in enumerate(exit_ces):
            loss = loss + e_ce * ((b + 1) / total)
    return {"loss": loss, **parts}


def forward_with_exits(model: nn.Module, input_ids: torch.Tensor, **kwargs) -> tuple[torch.Tensor, list]:
    """Logits and each intermediate loop's exit logits: after loop b < B, the unique last layer
    (middle-cycle plans) again, then the final norm, LM head and any final soft-cap (Gemma 2), as
    rrt's decoder computes them."""
    hf = unwrap(model)
    block = hf.rrt_checkpoint.block
    ends = loop_ends(block)
    tail = list(range(ends[-1] + 1, len(block["plan"]["unrolled"])))  # the unique last layer, if any
    layers = _decoder_layers(hf)
    captured, tail_kwargs = {}, {}

    def keep_output(e):
        return lambda _m, _i, out: captured.__setitem__(e, out[0] if isinstance(out, tuple) else out)

    def keep_kwargs(u):
        return lambda _m, _args, kw: tail_kwargs.__setitem__(u, kw)

    # prepended: the stream as the loop left it, before a loopNorm model's norm between loops
    hooks = [layers[e].register_forward_hook(keep_output(e), prepend=True) for e in ends[:-1]]
    hooks += [layers[u].register_forward_pre_hook(keep_kwargs(u), with_kwargs=True) for u in tail]
    try:
        logits = model(input_ids=input_ids, use_cache=False, **kwargs).logits
    finally:
        for h in hooks:
            h.remove()
    norm, head = final_norm(hf), hf.get_output_embeddings()
    exits = []
    for e in ends[:-1]:
        h = captured[e]
        for u in tail:  # its mask and positions as the full pass gave them
            kw = {k: v for k, v in tail_kwargs[u].items() if k != "hidden_states"}
            out = layers[u](h, **kw)
            h = out[0] if isinstance(out, tuple) else out
        exits.append(_softcap(head(norm(h)), getattr(hf.config, "final_logit_softcapping", None)))
    return logits, exits


def _softcap(logits: torch.Tensor, cap) -> torch.Tensor:
    """Gemma 2's final logit soft-cap, cap·tanh(x/cap), which rrt applies to every exit as to the output."""
    return logits if not cap else torch.tanh(logits / cap) * cap


def _decoder_layers(hf: nn.Module):
    prefix = hf.rrt_checkpoint.arch.layer_prefix
    return hf.get_submodule(prefix)
