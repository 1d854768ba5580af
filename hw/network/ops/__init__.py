"""Per-op RTL mappings: what each IR op becomes in the stream design, one module per op,
each registering its mapping in ``UNITS`` under the op's name (``ops.base`` has the kinds).

Every module of this package is imported here, so adding an op's RTL mapping is adding
its module; a name registered twice is refused at import, and an op nobody registered is
refused by name when a model reaches the generator.
"""

from __future__ import annotations

import importlib
import pkgutil

from adderflow.hw.network.ops.base import RtlMapping
from adderflow.registry import Registry

UNITS: Registry[RtlMapping] = Registry("RTL unit")

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
