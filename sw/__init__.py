"""adderflow: multiplication-free neural networks from PyTorch to FPGA, proven bit-exact.

This package imports nothing heavy so that ``import adderflow.sim`` never pulls in torch.
"""

__version__ = "0.1.0"
