"""Foundations every stage uses: data layout, atomic storage, lineage ledger, naming, text and audio I/O, metrics."""
