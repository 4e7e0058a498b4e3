"""LangGraph's Agent Server API, served under ``/lg`` over the same threads, runs and requests."""
