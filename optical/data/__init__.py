"""Data loaders sharing one schema (:mod:`optical.data.schema`)."""

from optical.data.schema import Bitext, DataError, RetrievalTask

__all__ = ["Bitext", "DataError", "RetrievalTask"]
