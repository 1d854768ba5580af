"""Quantization to the numeric contract (post-training now; QAT with brevitas to come)."""
