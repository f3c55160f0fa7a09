"""Retrieval: embeddings, chunking, vector stores and file search (no web framework)."""
