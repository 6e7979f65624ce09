"""Errors raised by the cases package; the CLI turns them into one-line messages."""


class CasesError(Exception):
    """Base class for faults in cases, links, compliance and retention."""


class ConfigFileError(CasesError):
    """A checklist or retention file is malformed or names something unknown."""


class CaseFileError(CasesError):
    """An imported case file does not match the expected format."""


class NotFound(CasesError, LookupError):
    """No case, step or recording matches the given reference."""


class Ambiguous(CasesError, LookupError):
    """A reference (a digest prefix, a step key) matches more than one row."""


class LinkError(CasesError):
    """A link between a recording and a step is refused (bad range, bad state)."""


class DisposalRefused(CasesError):
    """A retention disposal is not allowed (hold, open case, not due, no approval)."""
