"""Benchmarks: the service against raw LangGraph on the same database, in the same run."""
