"""Every actor, for `dramatiq workers.actors`: the broker module is imported first."""

from workers import broker as broker  # noqa: I001 - must precede the actor modules
from workers import detect, normalise, transcribe

__all__ = ["broker", "detect", "normalise", "transcribe"]
