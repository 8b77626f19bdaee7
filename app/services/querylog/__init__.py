"""The query log (ARCHITECTURE §7): entries, the hash chain, signed checkpoints, verification."""
