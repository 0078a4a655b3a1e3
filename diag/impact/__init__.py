"""Change impact: replay observed calls against a proposed policy change (``kmsdiag impact``)."""
