"""The AWS authorization engine: pure functions, no I/O, no boto3, no DuckDB.

The data model of requests, inputs and traces lives in ``diag.policy.model``; it is the contract between
the engine and the diagnosis rules.
"""
