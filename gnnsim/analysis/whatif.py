"""The what-if syntax: ``--vary KEY=V1,V2,...`` and ``--scale KNOB=FACTOR``.

The grid and the re-simulation that take them are :func:`gnnsim.variants.compare_grid`
and :func:`gnnsim.variants.whatif`.

>>> parse_vary("training.fanouts=[10,5],[15,10]")
('training.fanouts', ['[10,5]', '[15,10]'])
"""

from __future__ import annotations

import math

from gnnsim.cost.scaling import canonical_knob
from gnnsim.errors import ScenarioError


def split_values(text: str) -> list[str]:
    """Split ``a,b,[c,d]`` on the commas outside brackets and quotes."""
    out, depth, cur, quote = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return [v for v in out if v != ""]


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` -> (KEY, [V1, V2, ...])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ScenarioError(f"--vary {text!r}: expected KEY=V1,V2,... for example partition.method=random,metis")
    return key.strip(), split_values(values)


def parse_scale(text: str) -> tuple[str, float]:
    """``KNOB=FACTOR`` -> (canonical knob, factor)."""
    key, sep, value = text.partition("=")
    try:
        factor = float(value)
    except ValueError:
        factor = float("nan")
    if not sep or not factor > 0 or not math.isfinite(factor):
        raise ScenarioError(f"--scale {text!r}: expected KNOB=FACTOR with a finite factor > 0, for example "
                            "network.bw=2")
    return canonical_knob(key.strip()), factor
