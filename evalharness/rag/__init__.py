"""Retrieval-augmented generation in front of any model: corpus, retrievers, index cache, pipeline.

Importing this package is light: ``bm25s`` and ``sentence-transformers`` (the ``rag`` extra) load
only when an index is built or a dense encoder is needed.

A task with a ``rag:`` block (``RagSpec`` in ``evalharness/config.py``) retrieves passages for all
its rows in one batched call (``pipeline.retrieve_for_items``) before prompts are rendered; the
hits go into each row's template context and are stored with each sample.
"""
