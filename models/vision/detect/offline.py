"""Keep ultralytics from reaching the network.

ultralytics checks for connectivity when it is imported (a DNS lookup), downloads fonts,
weights and missing packages on demand, and sends usage events. Custos hosts have no
network and must not try: these variables are set before ultralytics is first imported.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_ultralytics() -> ModuleType:
    """Import ultralytics with its network features switched off."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # is_online() -> False: no downloads, no events
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics

    return ultralytics
