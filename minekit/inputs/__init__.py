"""Inputs: the data contract (schema) and the importers that turn common layouts into it."""
