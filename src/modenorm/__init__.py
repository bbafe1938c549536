"""modenorm: lossless mode-specific normalization for very large tables."""
