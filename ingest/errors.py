"""Errors raised by the ingest package.

Workers decide on retries by type: `PermanentError` subclasses are recorded once with
their reason, everything else is retried with backoff.
"""

from __future__ import annotations

from storage.errors import PermanentError


class IngestError(Exception):
    """Base class for ingest faults."""


class MediaUndecodable(IngestError, PermanentError):
    """ffmpeg/ffprobe cannot read the media; the same bytes will fail the same way."""

    def __init__(self, reason: str, stderr_tail: str = "") -> None:
        message = f"{reason}: {stderr_tail.strip()}" if stderr_tail.strip() else reason
        super().__init__(message)
        self.reason = reason
        self.stderr_tail = stderr_tail


class FFmpegTimeout(IngestError):
    """ffmpeg ran past its time limit; transient (a loaded host), so worth a retry."""

    def __init__(self, timeout_s: float, stderr_tail: str = "") -> None:
        super().__init__(f"ffmpeg timed out after {timeout_s:.0f} s")
        self.timeout_s = timeout_s
        self.stderr_tail = stderr_tail


class FFmpegFailed(IngestError):
    """ffmpeg failed for a reason outside the media (killed, disk full); worth a retry."""

    def __init__(self, reason: str, stderr_tail: str = "") -> None:
        message = f"{reason}: {stderr_tail.strip()}" if stderr_tail.strip() else reason
        super().__init__(message)
        self.stderr_tail = stderr_tail


class IngestSetupError(IngestError):
    """A setting or argument that would fail an ingest, found before any byte is read."""
