"""``NAME?key=value&key=value`` specs: one parser for graph sources and partition methods.

Values are typed the way a person writes them on a command line: ``true``/``yes`` and
``false``/``no`` are booleans, then integers, then floats, else the text itself.
"""

from __future__ import annotations

from urllib.parse import parse_qsl


def typed_value(text: str):
    """
    >>> typed_value("true"), typed_value("3"), typed_value("0.5"), typed_value("metis")
    (True, 3, 0.5, 'metis')
    """
    lowered = text.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str, error: type[Exception], what: str) -> tuple[str, dict]:
    """Split ``name?key=value&...`` into the name and typed options; a malformed query
    raises ``error`` naming ``what`` (e.g. "graph spec").

    >>> parse_spec("metis?balance_train=true&seed=3", ValueError, "partition method")
    ('metis', {'balance_train': True, 'seed': 3})
    """
    name, _, query = spec.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise error(f"{what} {spec!r}: expected NAME?key=value&key=value") from None
    return name, {k: typed_value(v) for k, v in pairs}
