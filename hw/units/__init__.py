"""The RTL units of ``hw/rtl``, one module each: what a generator needs to instantiate
one (its configuration, checked against the numeric contract, and HDL parameters), the
memory files it reads and its cycle formula. Torch-free, NumPy only (DESIGN.md dependency
rule 2); ``adderflow.hw.rtlgen`` re-exports them."""
