"""``python -m hitl.agents module:Class``: the same as ``hitl agent module:Class``."""

from __future__ import annotations

import sys

from hitl.cli import main

if __name__ == "__main__":
    main(["agent", *sys.argv[1:]])
