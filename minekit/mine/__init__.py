"""Miners: each turns (queries, positives, corpus) into a candidates table (see schema.CANDIDATE_COLUMNS)."""
