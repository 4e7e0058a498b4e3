"""Run the HITL service: ``python server.py`` does what ``hitl serve`` does.

The graphs come from the modules in ``HITL_GRAPHS`` (``graphs`` by default, where
``graphs/code_review.py`` registers the example pipeline).
"""

from hitl.cli import main

if __name__ == "__main__":
    main(["serve"])
