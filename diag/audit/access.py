"""The access matrix's answer: per key, the principals allowed each common KMS action, directly or only
through a service (``kms:ViaService``), with the layers that granted it. Built by ``diag.audit.compute``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from diag.audit.actions import MATRIX_ACTIONS as MATRIX_ACTIONS


@dataclass(frozen=True)
class PrincipalAccess:
    """What one principal may do with one key: actions allowed directly, and through a service only."""

    principal: str
    account: str
    kind: str
    direct: tuple[str, ...]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kms:ViaService value → actions
    deciding: dict[str, list[str]] = field(default_factory=dict)  # action → layers that granted it
    unverified: bool = False  # rests on a layer that was not collected

    def allowed(self) -> set[tuple[str, str | None]]:
        """Every (action, via-service or None) allowed."""
        out: set[tuple[str, str | None]] = {(a, None) for a in self.direct}
        out |= {(a, v) for v, acts in self.via.items() for a in acts}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "account": self.account,
            "kind": self.kind,
            "direct": list(self.direct),
            "via": {k: list(v) for k, v in self.via.items()},
            "deciding": self.deciding,
            "unverified": self.unverified,
        }


@dataclass(frozen=True)
class KeyAccess:
    key_arn: str
    account: str
    region: str
    aliases: tuple[str, ...]
    key_state: str | None
    key_manager: str | None
    principals: tuple[PrincipalAccess, ...]
    evaluated: int  # principals considered
    prefiltered: int  # of which ruled out by the key policy and grants alone
    policy_known: bool = True  # False: the key policy was not collected, the answers are partial

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_arn": self.key_arn,
            "account": self.account,
            "region": self.region,
            "aliases": list(self.aliases),
            "key_state": self.key_state,
            "key_manager": self.key_manager,
            "principals": [p.to_dict() for p in self.principals],
            "evaluated": self.evaluated,
            "prefiltered": self.prefiltered,
            "policy_known": self.policy_known,
        }


@dataclass(frozen=True)
class AccessMatrix:
    keys: tuple[KeyAccess, ...]
    actions: tuple[str, ...]
    at: dt.datetime | None
    accounts: tuple[str, ...]
    seconds: float = 0.0
    full_evaluations: int = 0

    def for_key(self, key_arn: str) -> KeyAccess | None:
        return next((k for k in self.keys if k.key_arn == key_arn), None)

    def principals_allowed(self, key_arn: str, account: str | None = None) -> list[str]:
        """ARNs of the principals (of ``account``) allowed at least one action on the key."""
        ka = self.for_key(key_arn)
        if ka is None:
            return []
        return [p.principal for p in ka.principals if account is None or p.account == account]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actions": list(self.actions),
            "accounts": list(self.accounts),
            "keys": [k.to_dict() for k in self.keys],
            "seconds": round(self.seconds, 3),
            "full_evaluations": self.full_evaluations,
        }
