"""Diagnosis of one call: the facts of an event, the Case that rules read, the Finding/Diagnosis they
produce (vocabulary), and the pipeline that gathers policies and history for it (sources, batch, lookup)."""
