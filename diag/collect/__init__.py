"""Policy collection: live snapshots (boto3), evidence bundles, and policy history from CloudTrail.

``diag.collect.model.InForce`` is the contract with diagnosis and check: the policies in force for one
request at one time, with where each came from and what is unknown. The API:

- ``diag.collect.inforce.policies_in_force(con, *, caller_arn, caller_account, key_arn=None, bucket=None,
  at=None) -> InForce``
- ``diag.collect.inforce.resolve_key(con, key_ref, *, region, account, at=None) -> KeyInfo | None``
- ``diag.collect.inforce.find_keys_elsewhere(con, key_id_or_alias, *, region=None, account=None, at=None)
  -> list[KeyInfo]``
- ``diag.collect.inforce.collected_regions(con, account, at=None) -> tuple[str, ...] | None``
- ``diag.collect.history.build_policy_changes(con) -> int`` (events -> policy_changes, incremental)
- ``diag.collect.bundle.read_bundle(path) -> Bundle`` / ``write_bundle(bundle, path)``
- ``diag.collect.snapshot.load_bundle(con, bundle) -> snapshot_id`` / ``snapshot_contents(con, id)``
- ``diag.collect.live.collect_live(con, config, out_dir=None) -> CollectResult``

Modules per service (``kms``, ``iam``, ``s3``, ``organizations``) follow cartography: ``get_*`` (raw
boto3, raises), pure ``transform_*`` over the AWS CLI JSON, ``load_*``; live collection fetches every
account first, then loads them in one transaction.
"""
