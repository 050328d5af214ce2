"""Process plumbing every subsystem shares: owned threads and their supervision, tickers and
pollers, the pool pooled actors take turns on, logging, CPU affinity and process limits.
"""
