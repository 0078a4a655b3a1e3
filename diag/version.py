"""kmsdiag's version (read by the package, stored with snapshots, reports and diagnoses)."""

__version__ = "0.1.0"
