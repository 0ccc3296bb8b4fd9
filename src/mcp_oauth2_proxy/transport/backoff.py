"""Jittered exponential backoff for reconnecting the server stream (pure)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of ``initial`` doubling up to ``maximum`` seconds, each jittered.

    Each delay is drawn from ``[base/2, base]`` so that many proxies restarted
    together do not reconnect in lockstep. ``random`` returns a float in [0, 1).
    """

    initial: float = 0.5
    maximum: float = 30.0
    random: Callable[[], float] = field(default=random.random)
    _attempt: int = 0

    def next_delay(self) -> float:
        """Return the next delay in seconds and advance."""
        base = min(self.initial * (2**self._attempt), self.maximum)
        if base < self.maximum:
            self._attempt += 1
        return float(base * (0.5 + self.random() / 2))

    def reset(self) -> None:
        """Start again from ``initial`` (after a connection succeeded)."""
        self._attempt = 0


__all__ = ["Backoff"]
