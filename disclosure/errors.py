"""Errors raised by the disclosure package."""

from __future__ import annotations

from storage.errors import PermanentError


class DisclosureError(Exception):
    """Base class for disclosure faults."""


class PlanError(DisclosureError, PermanentError):
    """A redaction plan that cannot be stored or applied as it stands."""


class RenderError(DisclosureError, PermanentError):
    """A render that failed, or whose output does not match its source."""


class FindingsOpen(DisclosureError):
    """An export was asked for while exposure findings are neither fixed nor acknowledged."""
