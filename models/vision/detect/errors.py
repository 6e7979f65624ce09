"""Errors raised by detection, tracking and video decoding."""


class DetectError(Exception):
    """Base class for faults in the detection package."""


class ModelUnavailable(DetectError):
    """A model or its weights cannot be loaded (missing file, no such provider)."""


class BadClassMap(DetectError, ValueError):
    """A YOLO class map names an unknown class or category."""


class VideoError(DetectError):
    """A video cannot be opened or has no decodable video stream."""
