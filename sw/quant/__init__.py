"""Quantization to the numeric contract: post-training (``ptq``) or a brevitas
quantization-aware fine-tune (``qat``)."""

MODES = ("ptq", "qat")  # quant.mode: adderflow.quant.ptq, adderflow.quant.qat
