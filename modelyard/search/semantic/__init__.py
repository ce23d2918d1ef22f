"""Semantic search: text embeddings and the vector index."""


def drop_process_caches() -> None:
    """Forget what this process holds in memory (the vectors it loaded): the database was emptied or restored."""
