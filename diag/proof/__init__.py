"""Proven fixes and their blast radius: each proposed fix applied to a copy of the policies in force and
evaluated again by the engine (``prove``, ``attach``), and the access it adds beyond the failing call
(``blast``, which reads the audit matrix and sits in the audit layer: see docs/architecture.md)."""
