"""hls4ml backend for adderflow models: IR → hls4ml project → g++ C-simulation.

``convert`` (no hls4ml needed) maps the IR to hls4ml layers and raises a ``ModelFormatError``
naming the layer it cannot map; ``HlsProject`` writes, compiles and runs the project.
See docs/hls4ml.md.
"""

from adderflow.hw.hls4ml_backend.convert import Conversion, convert
from adderflow.hw.hls4ml_backend.project import IO_TYPES, HlsProject, HlsSettings, register

__all__ = ["IO_TYPES", "Conversion", "HlsProject", "HlsSettings", "convert", "register"]
