"""Errors of the workers package."""

from storage.errors import PermanentError

__all__ = ["BrokerConfigError", "JobBusy", "PermanentError"]


class BrokerConfigError(RuntimeError):
    """The queue server is configured in a way that could lose jobs."""


class JobBusy(RuntimeError):
    """Another live worker holds the job; the message is retried later."""
