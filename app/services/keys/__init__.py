"""Data keys under the HSM's wrapping keys: rotation, re-wrap, crypto-shredding."""
