"""se-sweep: model x dataset x activation x Squeeze-and-Excitation grids on Ray."""

__version__ = "0.1.0"
