"""Torch-free simulation side: the IR's custom ops, the integer reference, executors."""
