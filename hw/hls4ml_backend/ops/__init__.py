"""Per-op hls4ml mappings, one module per op, each registering its ``HlsMapping`` in
``MAPPINGS`` under the op's name.

Every module of this package is imported here, so adding an op's hls4ml mapping is adding
its module; a name registered twice is refused at import, and an op nobody registered is
refused by name at conversion.
"""

from __future__ import annotations

import importlib
import pkgutil

from adderflow.hw.hls4ml_backend.mapping import HlsMapping
from adderflow.registry import Registry

MAPPINGS: Registry[HlsMapping] = Registry("hls4ml layer mapping")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
