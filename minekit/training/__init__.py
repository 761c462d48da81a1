"""Training and evaluation: fine-tune a bi-encoder or a reranker, measure retrieval."""
