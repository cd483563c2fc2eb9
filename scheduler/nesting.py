"""How deep parsed input may nest, measured without recursing: the one cap that files (YAML,
JSON) and the API's JSON bodies share.

Python's own recursion limit is about 1,000 frames, and whatever walks the data (validation,
``copy.deepcopy``, ``json.dumps``) spends more than one per level: a list 500 deep was a 500.

>>> too_deep({"a": [["x"]]}, 4), too_deep({"a": [["x"]]}, 3)
(False, True)
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "too_deep"]

MAX_DEPTH = 40
"""A scenario nests 7 levels deep, a variants file 10."""


def too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests more than ``limit`` levels deep, each value a level (a scalar
    in a list in a mapping is 3 deep), as YAML's composer counts nodes."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]
    return False
