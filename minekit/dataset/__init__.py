"""Datasets: candidates turned into versioned training datasets (datasets/NAME/vN)."""
