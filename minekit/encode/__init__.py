"""Encoders: models by name, sentence embeddings and the on-disk embedding cache."""
