"""Reusable LangGraph nodes and the helpers behind them.

- `nodes.diff`: a strict unified-diff parser shared by the others.
- `nodes.analysis`: deterministic risk analysis of a diff (``analyze`` node, `analyze_diff`).
- `nodes.secrets`: credential patterns and an entropy check for added lines.
- `nodes.testing`: the ``run_tests`` node (an operator's test profile, or a diff check).
- `nodes.approval`: typed ``interrupt()`` answers and the review / deploy approval nodes.
- `nodes.deploy`: the ``deploy`` node (records a deployment; no network).

Importing this package imports nothing else: pick the module you need.
"""

from __future__ import annotations
