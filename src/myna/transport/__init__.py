"""Transports between nodes: the same calls in-process or over HTTP."""
