"""Retrieval: dense exact search with cached document matrices, BM25, the e5 baseline, TREC run I/O."""
