"""Policy collection: live snapshots (boto3), evidence bundles, and policy history from CloudTrail.

``diag.collect.model.InForce`` is the contract with diagnosis and check: the policies in force for one
request at one time, with where each came from and what is unknown.
"""
