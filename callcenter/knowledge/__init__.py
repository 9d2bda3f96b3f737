"""The knowledge base: articles, their search index, and how agents use them on calls."""
