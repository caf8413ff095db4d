"""Storage operations above single rows (erasure, jobs, plans)."""

from api.storage.clients import Erasure, UnknownClientError, erase_client

__all__ = ["Erasure", "UnknownClientError", "erase_client"]
