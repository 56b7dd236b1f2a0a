"""Token-shaped test values built at run time, so no secret-looking literal sits in the repository."""

from __future__ import annotations

import random
import string

__all__ = ["fake"]


def fake(prefix: str, length: int, alphabet: str = string.ascii_letters + string.digits, seed: int = 7) -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))
