"""Export: trained torch models into the IR (QONNX), and the IR into other forms."""
