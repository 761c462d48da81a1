"""Cleaning: rules and scorers that remove likely false negatives (filter, denoise, LLM judge)."""
