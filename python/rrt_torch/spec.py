"""The `recursive` block of config.json (docs/checkpoint-format.md), checked the way
rrt's parseRecursiveSpec checks it, plus the facts the bridge derives from it."""

from .errors import RrtTorchError


def parse_recursive_block(block, n_layers: int) -> dict:
    def bad(msg):
        return RrtTorchError("format", f'config.json "recursive": {msg}')

    if not isinstance(block, dict):
        raise bad("missing or not an object (is this an rrt checkpoint? rrt convert writes one)")
    if block.get("version") != 1:
        raise bad(f"version {block.get('version')}; the bridge reads version 1")
    unrolled = (block.get("plan") or {}).get("unrolled")
    if not isinstance(unrolled, list) or len(unrolled) != n_layers:
        raise bad(f"plan.unrolled must list {n_layers} depths (the config's layer count)")
    for i, u in enumerate(unrolled):
        if not (isinstance(u, dict) and isinstance(u.get("slot"), int) and 0 <= u["slot"] < n_layers and isinstance(u.get("loop"), int) and u["loop"] >= 0):
            raise bad(f"plan.unrolled[{i}] is not a valid {{slot, loop}}")
    if not isinstance(block.get("sharedNorms"), bool):
        raise bad("sharedNorms must be true or false")
    loop_norm = block.get("loopNorm")
    if "loopNorm" in block and not isinstance(loop_norm, bool):  # absent or a bool, as rrt reads it
        raise bad("loopNorm must be true or false")
    if loop_norm and block["plan"].get("strategy") != "cycle":
        raise bad(f"loopNorm needs a cycle plan, not {block['plan'].get('strategy')}")
    lora = block.get("lora")
    if lora is not None and not (isinstance(lora, dict) and isinstance(lora.get("ranks"), dict)):
        raise bad("lora must be null or {init, ranks, ...}")
    return block


def lora_ranks(block: dict) -> dict:
    """rrt projection name -> rank, for the projections that carry adapters."""
    lora = block.get("lora")
    return {p: r for p, r in (lora["ranks"].items() if lora else []) if r}


def loop_ends(block: dict) -> list[int]:
    """The last (shared) depth of every loop, where an exit reads the stream (rrt's Decoder.loopEnds)."""
    plan = block["plan"]
    n_loops = plan["nLoops"]
    if n_loops > 1 and not plan["strategy"].endswith("cycle"):
        raise RrtTorchError("unsupported", f"early exits need a cycle strategy (a {plan['strategy']} model only completes its block at the last loop)")
    u = plan["unrolled"]
    return [max(l for l, d in enumerate(u) if not d["unique"] and d["loop"] == b) for b in range(n_loops)]
