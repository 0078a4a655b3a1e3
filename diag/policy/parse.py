"""Parse and normalize IAM policy documents into immutable, pre-digested statements.

A policy may arrive as a dict or as JSON text; ``Statement`` may be one object or a list; every element
may be one string or a list of strings; ``Principal`` may be ``"*"``, ``{"AWS": "123456789012"}``,
``{"AWS": [...], "Service": ..., "Federated": ..., "CanonicalUser": ...}``. ``parse_policy`` turns all
of these into one shape (``ParsedPolicy``) so that the matchers never branch on the JSON form again.

Parsing is cached on the document's canonical JSON text (``PolicyParser``, one bounded cache each): evaluating the same policy many times parses it
once. Invalid documents raise ``PolicyError`` with a message that says which statement and element is
wrong (that message reaches users of ``kmsdiag simulate``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from diag.policy.cache import BoundedCache

_ELEMENTS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
}
_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
_VAR_RE = re.compile(r"\$\{([^}]*)\}")


class PolicyError(ValueError):
    """A policy document that AWS would not accept (or that the engine cannot read)."""


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A normalized Principal / NotPrincipal element.

    ``wildcard`` is true for ``"*"`` and ``{"AWS": "*"}``. ``values`` holds ``(type, value)`` pairs, type
    being AWS, Service, Federated or CanonicalUser, in document order.
    """

    wildcard: bool
    values: tuple[tuple[str, str], ...]

    def flat(self) -> tuple[str, ...]:
        """Every value as written (``"*"`` for the wildcard form)."""
        return (("*",) if self.wildcard else ()) + tuple(v for _, v in self.values)


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One (operator, key) pair of a Condition block, with its values as strings."""

    operator: str  # as written, e.g. "ForAnyValue:StringEqualsIfExists"
    base: str  # the operator without set prefix and IfExists suffix, e.g. "StringEquals"
    set_op: str | None  # "ForAnyValue", "ForAllValues" or None
    if_exists: bool
    key: str  # as written
    key_lower: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatementSpec:
    """One normalized statement. Exactly one of each Action/NotAction pair etc. is set, or neither."""

    index: int
    sid: str | None
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principal: PrincipalSpec | None
    not_principal: PrincipalSpec | None
    conditions: tuple[ConditionSpec, ...]
    raw: dict[str, Any]
    # lower-cased context keys the statement's outcome depends on (condition keys and policy variables):
    # the engine memoizes a statement's trace on the values of exactly these keys
    context_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    """A parsed policy: its version, statements and the canonical text it was parsed from."""

    version: str | None
    statements: tuple[StatementSpec, ...]
    policy_id: str | None = None
    context_keys: tuple[str, ...] = ()  # union of the statements' context keys


def _as_str(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise PolicyError(f"{where}: expected a string, got {type(value).__name__}")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, list):
        if not value:
            raise PolicyError(f"{where}: empty list")
        return tuple(_as_str(v, where) for v in value)
    return (_as_str(value, where),)


def _principal(value: Any, where: str) -> PrincipalSpec:
    if isinstance(value, str):
        if value == "*":
            return PrincipalSpec(True, ())
        # A bare string other than "*" is not valid JSON policy grammar, but some tools write an ARN or an
        # account ID directly; read it as an AWS principal rather than refusing the whole policy.
        return PrincipalSpec(False, (("AWS", value),))
    if not isinstance(value, dict) or not value:
        raise PolicyError(f'{where}: expected "*" or an object like {{"AWS": ...}}')
    wildcard = False
    pairs: list[tuple[str, str]] = []
    for ptype, pvals in value.items():
        if ptype not in _PRINCIPAL_TYPES:
            raise PolicyError(
                f"{where}: unknown principal type {ptype!r} (expected AWS, Service, Federated, CanonicalUser)"
            )
        for v in _str_list(pvals, f"{where}.{ptype}"):
            if ptype == "AWS" and v == "*":
                wildcard = True
            else:
                pairs.append((ptype, v))
    return PrincipalSpec(wildcard, tuple(pairs))


def split_operator(operator: str) -> tuple[str | None, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` → ``("ForAnyValue", "StringLike", True)``."""
    set_op: str | None = None
    base = operator
    if ":" in operator:
        prefix, _, rest = operator.partition(":")
        low = prefix.lower()
        if low == "foranyvalue":
            set_op = "ForAnyValue"
        elif low == "forallvalues":
            set_op = "ForAllValues"
        else:
            set_op = prefix  # unknown set operator: the evaluator reports it as unknown
        base = rest
    if_exists = False
    if base.endswith("IfExists") and base != "IfExists":
        base = base[: -len("IfExists")]
        if_exists = True
    return set_op, base, if_exists


def _conditions(value: Any, where: str) -> tuple[ConditionSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: Condition must be an object of operators")
    out: list[ConditionSpec] = []
    for operator, block in value.items():
        if not isinstance(block, dict):
            raise PolicyError(f"{where}.{operator}: expected an object of condition keys")
        set_op, base, if_exists = split_operator(str(operator))
        for key, vals in block.items():
            if isinstance(vals, list):
                values = tuple(_as_str(v, f"{where}.{operator}.{key}") for v in vals)
            else:
                values = (_as_str(vals, f"{where}.{operator}.{key}"),)
            out.append(ConditionSpec(str(operator), base, set_op, if_exists, str(key), str(key).lower(), values))
    return tuple(out)


def _statement(raw: Any, index: int) -> StatementSpec:
    where = f"Statement[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected an object")
    unknown = set(raw) - _ELEMENTS
    if unknown:
        raise PolicyError(f"{where}: unknown element(s) {', '.join(sorted(map(str, unknown)))}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'{where}: Effect must be "Allow" or "Deny", got {effect!r}')
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if a in raw and b in raw:
            raise PolicyError(f"{where}: {a} and {b} cannot both be present")
    if "Action" not in raw and "NotAction" not in raw:
        raise PolicyError(f"{where}: needs Action or NotAction")
    sid = raw.get("Sid")
    conditions = _conditions(raw.get("Condition"), f"{where}.Condition")
    spec = StatementSpec(
        index=index,
        sid=None if sid is None else _as_str(sid, f"{where}.Sid"),
        effect=effect,
        actions=_str_list(raw["Action"], f"{where}.Action") if "Action" in raw else None,
        not_actions=_str_list(raw["NotAction"], f"{where}.NotAction") if "NotAction" in raw else None,
        resources=_str_list(raw["Resource"], f"{where}.Resource") if "Resource" in raw else None,
        not_resources=_str_list(raw["NotResource"], f"{where}.NotResource") if "NotResource" in raw else None,
        principal=_principal(raw["Principal"], f"{where}.Principal") if "Principal" in raw else None,
        not_principal=_principal(raw["NotPrincipal"], f"{where}.NotPrincipal") if "NotPrincipal" in raw else None,
        conditions=conditions,
        raw=raw,
    )
    texts = [*(spec.resources or ()), *(spec.not_resources or ()), *(v for c in conditions for v in c.values)]
    keys = dict.fromkeys(c.key_lower for c in conditions)
    for text in texts:
        if "${" in text:
            for m in _VAR_RE.finditer(text):
                name = m.group(1).partition(",")[0].strip().lower()
                if name not in ("*", "?", "$"):
                    keys[name] = None
    return StatementSpec(**{**{f: getattr(spec, f) for f in StatementSpec.__slots__}, "context_keys": tuple(keys)})


def _parse_obj(doc: Any) -> ParsedPolicy:
    if not isinstance(doc, dict):
        raise PolicyError(f"a policy must be a JSON object, got {type(doc).__name__}")
    if "Statement" not in doc:
        raise PolicyError("the policy has no Statement")
    stmts = doc["Statement"]
    if isinstance(stmts, dict):
        stmts = [stmts]
    if not isinstance(stmts, list):
        raise PolicyError("Statement must be an object or a list of objects")
    version = doc.get("Version")
    if version is not None and not isinstance(version, str):
        raise PolicyError("Version must be a string")
    pid = doc.get("Id")
    statements = tuple(_statement(s, i) for i, s in enumerate(stmts))
    return ParsedPolicy(
        version=version,
        statements=statements,
        policy_id=pid if isinstance(pid, str) else None,
        context_keys=tuple(dict.fromkeys(k for st in statements for k in st.context_keys)),
    )


def policy_fingerprint(doc: dict[str, Any] | str) -> bytes | str:
    """The cache key of a policy: its text as given, or its JSON serialization for a dict.

    Computed on every evaluation (never memoized by object identity), so a dict changed in place is seen.
    Keys are not sorted: two equal dicts with different key order only cost a second parse.
    """
    if isinstance(doc, str):
        return doc
    try:
        return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise PolicyError(f"the policy is not JSON-serializable: {exc}") from exc


class PolicyParser:
    """Parses policy documents, remembering each parsed policy under its canonical text (bounded)."""

    __slots__ = ("cache",)

    def __init__(self, limit: int = 8192) -> None:
        self.cache: BoundedCache[bytes | str, ParsedPolicy] = BoundedCache(limit)

    def parse(self, doc: dict[str, Any] | str, fingerprint: bytes | str | None = None) -> ParsedPolicy:
        """``parse_policy`` through this parser's cache."""
        key = fingerprint if fingerprint is not None else policy_fingerprint(doc)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if isinstance(doc, str):
            try:
                obj = orjson.loads(doc)
            except orjson.JSONDecodeError as exc:
                raise PolicyError(f"the policy is not valid JSON: {exc}") from exc
        else:
            # Parse from the canonical text so that later changes to the caller's dict cannot alter the cache.
            obj = orjson.loads(key) if isinstance(key, bytes) else doc
        return self.cache.put(key, _parse_obj(obj))


#: The parser behind ``parse_policy`` (an engine may own another).
DEFAULT_PARSER = PolicyParser()


def parse_policy(doc: dict[str, Any] | str, fingerprint: bytes | str | None = None) -> ParsedPolicy:
    """Parse ``doc`` (a dict or JSON text) into a ``ParsedPolicy``; cached on its canonical text.

    Raises ``PolicyError`` for invalid documents (not JSON, no Statement, bad Effect, unknown elements...).
    """
    return DEFAULT_PARSER.parse(doc, fingerprint)


def clear_cache() -> None:
    """Forget parsed policies (tests and benchmarks measure the uncached path with it)."""
    DEFAULT_PARSER.cache.clear()
