"""Candle arithmetic and the bookkeeping behind it (trade ids seen, gaps), pure: each lives
inside one aggregator and is tested without threads.
"""
