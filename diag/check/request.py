"""What `kmsdiag check` evaluates: one expected access, normalized, and the CloudTrail-shaped record of it.

A check is built the way AWS would see the call, so that the engine's own context builder
(``diag.policy.context.request_from_event``) derives the condition keys: the request becomes a synthetic
CloudTrail record (an assumed-role session for a role ARN, ``invokedBy`` for ``--via-service``, the
encryption context in ``requestParameters``), and only keys that a record cannot carry are set on top
(``--context aws:SourceIp=…``, ``kms:ViaService`` exactly as given).

``--context`` pairs: a key of the form ``aws:Name``, ``aws:Name/tag``, ``kms:Name`` (one colon, a
condition-key name) sets that condition key; ``kms:EncryptionContext:K=V`` and every other key (``K=V``,
including ``aws:s3:arn=…``, which has two colons) is an encryption-context pair.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from diag import arn as arns
from diag import times
from diag.errors import BadInputError, UsageError

_ACCOUNT_RE = arns.ACCOUNT_RE
_ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
_CONDITION_KEY_RE = re.compile(r"^(aws|kms):[A-Za-z0-9]+(/.*)?$")
_EC_PREFIX = "kms:encryptioncontext:"
SESSION_NAME = "kmsdiag-check"


@dataclass(frozen=True)
class CheckRequest:
    """One expected access: who, which actions, which key, how (service, context), when, and what is expected."""

    principal: str
    actions: tuple[str, ...]
    key: str
    via_service: str | None = None
    encryption_context: dict[str, str] = field(default_factory=dict)
    condition_keys: dict[str, str] = field(default_factory=dict)
    as_of: dt.datetime | None = None
    expect: str = "allowed"  # allowed | denied
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "principal": self.principal,
            "actions": list(self.actions),
            "key": self.key,
            "via_service": self.via_service,
            "encryption_context": dict(self.encryption_context),
            "condition_keys": dict(self.condition_keys),
            "as_of": self.as_of,
            "expect": self.expect,
        }


def normalize_action(action: str) -> str:
    """``Decrypt`` → ``kms:Decrypt``; ``kms:decrypt`` stays (matching is case-insensitive)."""
    a = action.strip()
    if ":" not in a:
        a = f"kms:{a}"
    if not _ACTION_RE.match(a) or "*" in a:
        raise UsageError(
            f"not an action: {action!r}", hint="write one concrete action as service:Operation, e.g. kms:Decrypt"
        )
    if not a.lower().startswith("kms:"):
        raise UsageError(
            f"kmsdiag check evaluates KMS actions, not {action!r}",
            hint="for S3 with SSE-KMS, check the KMS call S3 makes: --action kms:Decrypt --via-service s3",
        )
    return a


def split_context(pairs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(encryption context, condition keys) from ``--context`` pairs (see the module docstring)."""
    ec: dict[str, str] = {}
    cond: dict[str, str] = {}
    for k, v in pairs.items():
        if k.lower().startswith(_EC_PREFIX) and len(k) > len(_EC_PREFIX):
            ec[k[len(_EC_PREFIX) :]] = v
        elif _CONDITION_KEY_RE.match(k):
            cond[k] = v
        else:
            ec[k] = v
    return ec, cond


def parse_pairs(values: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` → dict; the value may contain ``=``."""
    out: dict[str, str] = {}
    for item in values or []:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"--context expects key=value, got {item!r}")
        out[k.strip()] = v
    return out


def parse_as_of(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """ISO 8601 (UTC when no offset), ``now``, or a duration ago (``90m``, ``24h``, ``7d``); naive UTC."""
    if value is None or value.strip().lower() in ("", "now"):
        return None
    t = times.parse_instant(value, now or times.utcnow())
    if t is None:
        raise UsageError(f"--as-of: not a time: {value!r}", hint="ISO 8601 (2026-11-28T12:00:00Z) or 24h, 7d")
    return t


def via_service_value(value: str | None, region: str | None) -> str | None:
    """``s3`` / ``s3.amazonaws.com`` → ``s3.<key region>.amazonaws.com``; a full endpoint stays as given."""
    if not value:
        return None
    v = value.strip()
    if v.endswith(".amazonaws.com") and v.count(".") >= 3:
        return v
    name = v.removesuffix(".amazonaws.com")
    if "." in name or not name:
        raise UsageError(f"--via-service: not a service endpoint: {value!r}", hint="e.g. s3.us-east-1.amazonaws.com")
    if not region:
        raise UsageError(f"--via-service {value}: the key's region is unknown; give the full endpoint")
    return f"{name}.{region}.amazonaws.com"


def service_of(via: str) -> str:
    """``s3.us-east-1.amazonaws.com`` → ``s3.amazonaws.com`` (CloudTrail's ``invokedBy``)."""
    return via.split(".", 1)[0] + ".amazonaws.com"


# ----------------------------------------------------------------------------------------------- files


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadInputError(f"{where}: expected a string or a list of strings")


def _context(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInputError(f"{where}: expected a mapping of key → value")
    out = {}
    for k, v in value.items():
        if not isinstance(v, str | int | float):
            raise BadInputError(f"{where}.{k}: expected a string")
        out[str(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def requests_from_document(doc: Any) -> list[CheckRequest]:
    """The entries of a checks file: a list, or ``{"defaults": {...}, "checks": [...]}`` (README, check format)."""
    defaults: dict[str, Any] = {}
    if isinstance(doc, dict):
        d = doc.get("defaults") or {}
        if not isinstance(d, dict):
            raise BadInputError("defaults: expected a mapping")
        defaults = d
        entries = doc.get("checks")
    else:
        entries = doc
    if not isinstance(entries, list) or not entries:
        raise BadInputError("the checks file has no entries (a list, or a mapping with a 'checks' list)")
    out: list[CheckRequest] = []
    for i, raw in enumerate(entries):
        where = f"checks[{i}]"
        if not isinstance(raw, dict):
            raise BadInputError(f"{where}: expected a mapping")
        unknown = set(raw) - {
            "name",
            "principal",
            "action",
            "actions",
            "key",
            "via_service",
            "context",
            "as_of",
            "expect",
        }
        if unknown:
            raise BadInputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        entry = {**defaults, **raw}
        if isinstance(defaults.get("context"), dict) and isinstance(raw.get("context"), dict):
            entry["context"] = {**defaults["context"], **raw["context"]}
        principal = entry.get("principal")
        key = entry.get("key")
        if not isinstance(principal, str) or not principal:
            raise BadInputError(f"{where}.principal: required")
        if not isinstance(key, str) or not key:
            raise BadInputError(f"{where}.key: required")
        actions = _as_list(entry.get("actions"), f"{where}.actions") + _as_list(entry.get("action"), f"{where}.action")
        if not actions:
            raise BadInputError(f"{where}: no action (action: kms:Decrypt, or actions: [...])")
        expect = str(entry.get("expect") or "allowed").lower()
        if expect not in ("allowed", "denied"):
            raise BadInputError(f"{where}.expect: allowed or denied, not {expect!r}")
        via = entry.get("via_service")
        if via is not None and not isinstance(via, str):
            raise BadInputError(f"{where}.via_service: expected a string")
        ec, cond = split_context(_context(entry.get("context"), f"{where}.context"))
        as_of_raw = entry.get("as_of")
        as_of = (
            (as_of_raw.replace(tzinfo=None) if isinstance(as_of_raw, dt.datetime) else parse_as_of(str(as_of_raw)))
            if as_of_raw is not None
            else None
        )
        try:
            acts = tuple(normalize_action(a) for a in actions)
        except UsageError as exc:
            raise BadInputError(f"{where}: {exc.message}") from exc
        name = entry.get("name")
        out.append(
            CheckRequest(
                principal=principal.strip(),
                actions=acts,
                key=key.strip(),
                via_service=via,
                encryption_context=ec,
                condition_keys=cond,
                as_of=as_of,
                expect=expect,
                name=str(name) if name is not None else None,
            )
        )
    return out


def load_requests(text: str, filename: str) -> list[CheckRequest]:
    """Parse a checks file (YAML or JSON; YAML is a superset, so ``.json`` is parsed strictly as JSON)."""
    import json

    try:
        if filename.lower().endswith(".json"):
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:
        raise BadInputError(f"{filename}: not valid {'JSON' if filename.endswith('.json') else 'YAML'}: {exc}") from exc
    return requests_from_document(doc)
