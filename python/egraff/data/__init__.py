"""Data: neighbour graphs (``graph``); dataset registry, readers and generators build on it."""
