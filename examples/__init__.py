"""Runnable examples; a package so notebooks and tests can import them."""
