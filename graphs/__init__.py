"""Example pipelines. Importing this package registers them in `hitl.registry.default_registry`.

Registration only: no connections, no I/O at import.
"""

from __future__ import annotations

from graphs import code_review

__all__ = ["code_review"]
