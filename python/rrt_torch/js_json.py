"""config.json as rrt writes it: JavaScript's JSON.stringify(value, null, 2) + newline. Python's
json module spells some numbers differently (1e-05 for JavaScript's 0.00001), which would make a
checkpoint that went through PyTorch differ from the one rrt wrote."""

import json
import math
from decimal import Decimal


def js_number(x) -> str:
    """Number.prototype.toString for a finite double (ECMA-262 Number::toString)."""
    if isinstance(x, bool) or isinstance(x, int):
        return str(int(x))
    if not math.isfinite(x):
        return "null"  # JSON.stringify's choice
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr is the shortest round-trip digit string, as JavaScript's
    _, digits, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    s = "".join(map(str, digits))
    k, n = len(s), len(s) + exponent  # value = 0.s × 10^n
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        e = n - 1
        out = s[0] + ("." + s[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + out


def dumps(value, indent: int = 2, level: int = 0) -> str:
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {dumps(v, indent, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + dumps(v, indent, level + 1) for v in value) + "\n" + pad + "]"
    raise TypeError(f"cannot write {type(value).__name__} to config.json")
