"""Strategies: one file each behind the `Strategy` protocol of base.py, chosen by name (see registry.py)."""
