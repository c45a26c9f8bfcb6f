"""FSDP2 (torch.distributed.fsdp.fully_shard) for a loaded recursive model: modules that share a
parameter must be sharded as one group, so the unit is a slot, i.e. every depth that uses it
(torch refuses a parameter shared across groups: "shared with a parameter already managed by
another FSDP group"). The embeddings, final norm and head go to the root group."""

from torch import nn

from .save import unwrap


def shard_by_slot(model: nn.Module, **fsdp_kwargs) -> nn.Module:
    """fully_shard on the depths of each slot together, then on the root; returns the model."""
    from torch.distributed.fsdp import fully_shard

    hf = unwrap(model)
    info = hf.rrt_checkpoint
    layers = hf.get_submodule(info.arch.layer_prefix)
    unrolled = info.block["plan"]["unrolled"]
    for slot in sorted({u["slot"] for u in unrolled}):
        fully_shard([layers[d] for d, u in enumerate(unrolled) if u["slot"] == slot], **fsdp_kwargs)
    fully_shard(model, **fsdp_kwargs)
    return model
