"""Errors raised by the storage package; backends translate their own faults into these."""


class StorageError(Exception):
    """Base class for storage faults."""


class ObjectExists(StorageError):
    """A key was written twice; stored objects are never overwritten."""


class ObjectNotFound(StorageError, KeyError):
    """No object under that key."""


class ObjectLocked(StorageError):
    """The object is under retention or legal hold and cannot be removed."""


class StoredObjectMismatch(StorageError):
    """What the store holds after a write differs from what was read (size or digest).

    Raised before the object becomes visible under its key; nothing is published.
    """


class TransientStorageError(StorageError):
    """A fault worth retrying (network, throttling, a busy backend)."""


class LedgerError(Exception):
    """The custody ledger refused an operation."""


class PermanentError(Exception):
    """A failure that retrying cannot fix (undecodable media, bad parameters).

    Stage functions raise it so workers record the reason once instead of retrying.
    """
