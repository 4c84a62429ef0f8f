"""Benchmark support: benchdnn layer descriptors and the machine's FMA peak."""
