"""Condition operators, set operators and policy variables, evaluated the way IAM does.

Semantics (IAM User Guide, "Condition operators" and "Single-valued vs multivalued context keys"):

- A Condition block is an AND over its operators and, within an operator, over its keys; the values
  listed for one key are an OR. Keys are case-insensitive; values are compared per operator
  (``StringEquals`` case-sensitive, ``StringEqualsIgnoreCase`` not, ``Bool`` not, ARNs case-sensitive).
- A key absent from the request context: a positive operator is false, a negated operator
  (``StringNotEquals``, ``StringNotLike``, ``NumericNotEquals``, ``DateNotEquals``, ``NotIpAddress``,
  ``ArnNotEquals``, ``ArnNotLike``) is true, and any ``...IfExists`` operator is true. An empty list counts
  as absent.
- A multi-valued key without a set operator: a positive operator is true when any request value matches
  any policy value; a negated operator is true when no request value matches any policy value.
- ``ForAnyValue:``: true when at least one request value satisfies the operator (for a negated operator:
  at least one request value matches none of the policy values); false for an absent or empty key.
- ``ForAllValues:``: true when every request value satisfies the operator (negated: every request value
  matches none of the policy values); true for an absent or empty key (AWS's documented trap).
- ``Null``: ``"true"`` holds when the key is absent (or an empty list), ``"false"`` when present.
  ``IfExists`` and set prefixes do not change ``Null``.
- Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team}``, ``${aws:username, 'default'}``,
  ``${*}``, ``${?}``, ``${$}``) are substituted in the values of String and Arn operators only; a variable
  with no value (and no default) makes that policy value match nothing.
- A key whose value is ``diag.policy.context.UNDETERMINED`` (kmsdiag could not determine it, which is not
  the same as absent), or a policy variable naming such a key: the condition's outcome is unknown; the
  trace says so (``undetermined``) and ``matched`` is the value the marker's mode assumes (``diag.policy.
  undetermined`` evaluates both modes and reports the decision as undetermined when they differ).
- An operator the engine does not know is reported (``unknown_operator``) and fails closed: the
  statement does not apply when it is an Allow, and it does apply when it is a Deny (so an unreadable
  Deny can never be the reason kmsdiag calls a request allowed). AWS refuses such policies when they are
  written, so meeting one means the engine is behind AWS, not that the policy is in force as written.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from diag.policy.context import UNDETERMINED_PREFIX, scalar_text, undetermined_mode
from diag.policy.model import ConditionTrace
from diag.policy.parse import ConditionSpec, split_operator
from diag.policy.wildcard import arn_like, arn_regex, glob_regex, substitute

Ctx = Mapping[str, tuple[str, ...]]


def _str_eq(p: str, v: str) -> bool:
    return p == v


def _str_eq_ic(p: str, v: str) -> bool:
    return p.lower() == v.lower()


def _str_like(p: str, v: str) -> bool:
    if "*" not in p and "?" not in p:
        return p == v
    return glob_regex(p, False).fullmatch(v) is not None


@lru_cache(maxsize=4096)
def _num(v: str) -> float | None:
    try:
        return float(v.strip())
    except ValueError:
        return None


def _numeric(cmp: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def f(p: str, v: str) -> bool:
        a, b = _num(v), _num(p)
        return a is not None and b is not None and cmp(a, b)

    return f


@lru_cache(maxsize=4096)
def _date(v: str) -> float | None:
    s = v.strip()
    if not s:
        return None
    try:
        return float(s)  # epoch seconds
    except ValueError:
        pass
    try:
        d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return d.timestamp()


def _dates(cmp: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def f(p: str, v: str) -> bool:
        a, b = _date(v), _date(p)
        return a is not None and b is not None and cmp(a, b)

    return f


def _bool(p: str, v: str) -> bool:
    return p.strip().lower() == v.strip().lower() and p.strip().lower() in ("true", "false")


def _binary(p: str, v: str) -> bool:
    try:
        return base64.b64decode(p, validate=True) == base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False


@lru_cache(maxsize=4096)
def _net(p: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(p.strip(), strict=False)
    except ValueError:
        return None


def _ip(p: str, v: str) -> bool:
    net = _net(p)
    if net is None:
        return False
    try:
        addr = ipaddress.ip_address(v.strip())
    except ValueError:
        return False
    return addr.version == net.version and addr in net


def _arn(p: str, v: str) -> bool:
    return arn_like(p, v)


# base operator (lower-case) -> (comparison in its positive form, negated?, variables substituted?)
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool, bool]] = {
    "stringequals": (_str_eq, False, True),
    "stringnotequals": (_str_eq, True, True),
    "stringequalsignorecase": (_str_eq_ic, False, True),
    "stringnotequalsignorecase": (_str_eq_ic, True, True),
    "stringlike": (_str_like, False, True),
    "stringnotlike": (_str_like, True, True),
    "numericequals": (_numeric(lambda a, b: a == b), False, False),
    "numericnotequals": (_numeric(lambda a, b: a == b), True, False),
    "numericlessthan": (_numeric(lambda a, b: a < b), False, False),
    "numericlessthanequals": (_numeric(lambda a, b: a <= b), False, False),
    "numericgreaterthan": (_numeric(lambda a, b: a > b), False, False),
    "numericgreaterthanequals": (_numeric(lambda a, b: a >= b), False, False),
    "dateequals": (_dates(lambda a, b: a == b), False, False),
    "datenotequals": (_dates(lambda a, b: a == b), True, False),
    "datelessthan": (_dates(lambda a, b: a < b), False, False),
    "datelessthanequals": (_dates(lambda a, b: a <= b), False, False),
    "dategreaterthan": (_dates(lambda a, b: a > b), False, False),
    "dategreaterthanequals": (_dates(lambda a, b: a >= b), False, False),
    "bool": (_bool, False, False),
    "binaryequals": (_binary, False, False),
    "ipaddress": (_ip, False, False),
    "notipaddress": (_ip, True, False),
    "arnequals": (_arn, False, True),
    "arnlike": (_arn, False, True),
    "arnnotequals": (_arn, True, True),
    "arnnotlike": (_arn, True, True),
}


def is_known_operator(operator: str) -> bool:
    """Whether ``operator`` (with its set prefix and IfExists suffix) is one the engine evaluates."""
    set_op, base, _ = split_operator(operator)
    if set_op not in (None, "ForAnyValue", "ForAllValues"):
        return False
    return base.lower() in OPERATORS or base.lower() == "null"


@lru_cache(maxsize=8192)
def _token_glob(tokens: tuple[tuple[bool, str], ...]) -> re.Pattern[str]:
    """A StringLike glob over (is_literal, text) tokens: wildcards only in non-literal text."""
    out = []
    for literal, text in tokens:
        for ch in text:
            if not literal and ch == "*":
                out.append(".*")
            elif not literal and ch == "?":
                out.append(".")
            else:
                out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _fixed(cmp: Callable[[str, str], bool], p: str) -> Callable[[str], bool]:
    """The predicate ``v -> cmp(p, v)``, compiled once: exact equality and StringLike globs skip a call."""
    if cmp is _str_eq:
        return p.__eq__
    if cmp is _str_like:
        return p.__eq__ if "*" not in p and "?" not in p else glob_regex(p, False).fullmatch  # type: ignore[return-value]
    return functools.partial(cmp, p)


def _substituted(base: str, values: Sequence[str], ctx: Ctx) -> list[Callable[[str], bool]]:
    """One predicate per policy value, with policy variables substituted from ``ctx``."""
    cmp = OPERATORS[base][0]
    out: list[Callable[[str], bool]] = []
    for p in values:
        if "${" not in p:
            out.append(_fixed(cmp, p))
            continue
        tokens = substitute(p, ctx)
        if tokens is None:
            continue  # unresolvable variable: this value matches nothing
        if base in ("stringlike", "stringnotlike"):
            out.append(_token_glob(tokens).fullmatch)  # type: ignore[arg-type]
        elif base.startswith("arn"):
            out.append(arn_regex(tokens).fullmatch)  # type: ignore[arg-type]
        else:
            out.append(functools.partial(cmp, "".join(t for _, t in tokens)))
    return out


class CompiledCondition:
    """One (operator, key) pair, with its predicates compiled once (values without a policy variable).

    ``outcome(ctx, effect)`` is the whole evaluation (``matched``, reason, flags); ``holds`` and ``trace``
    are its two views, so the decision and the trace can never disagree.
    """

    __slots__ = ("base", "cond", "fixed", "known", "mentions_variable", "negated", "uses_variables")

    def __init__(self, cond: ConditionSpec) -> None:
        self.cond = cond
        base = cond.base.lower()
        self.base = base
        self.known = cond.set_op in (None, "ForAnyValue", "ForAllValues") and (base in OPERATORS or base == "null")
        op = OPERATORS.get(base)
        self.negated = op[1] if op is not None else False
        self.mentions_variable = any("${" in p for p in cond.values)
        self.uses_variables = op is not None and op[2] and self.mentions_variable
        self.fixed: list[Callable[[str], bool]] | None = None
        if op is not None and self.known and not self.uses_variables:
            self.fixed = [_fixed(op[0], p) for p in cond.values]

    def holds(self, ctx: Ctx, effect: str) -> bool:
        return self.outcome(ctx, effect)[0]

    def trace(self, ctx: Ctx, effect: str) -> ConditionTrace:
        matched, reason, req_values, unknown_op, undetermined = self.outcome(ctx, effect)
        c = self.cond
        return ConditionTrace(
            c.operator,
            c.key,
            matched,
            c.values,
            req_values,
            reason,
            unknown_operator=unknown_op,
            undetermined=undetermined,
        )

    def outcome(self, ctx: Ctx, effect: str) -> tuple[bool, str, tuple[str, ...] | None, bool, bool]:
        """(matched, reason, request values, unknown operator?, undetermined?)."""
        cond = self.cond
        req = ctx.get(cond.key_lower)
        undetermined = None
        if req is not None and len(req) == 1 and req[0].startswith(UNDETERMINED_PREFIX):
            undetermined = undetermined_mode(req)
        if undetermined is None and self.mentions_variable:
            undetermined = _undetermined_mode(None, cond.values, ctx)
        if undetermined is not None:
            holds = (undetermined == "allow") == (effect == "Allow")
            return (
                holds,
                "kmsdiag could not determine this key: the outcome is unknown (assumed "
                + ("to hold" if holds else "not to hold")
                + " in this evaluation)",
                None,
                False,
                True,
            )
        req_values = tuple(req) if req is not None else None
        if not self.known:
            applies_for_deny = effect == "Deny"
            reason = (
                "unknown condition operator: fails closed ("
                + ("the Deny is treated as applying" if applies_for_deny else "the Allow does not apply")
                + ")"
            )
            return applies_for_deny, reason, req_values, True, False
        matched, reason = self._known(req, ctx)
        return matched, reason, req_values, False, False

    def _known(self, req: tuple[str, ...] | None, ctx: Ctx) -> tuple[bool, str]:
        cond = self.cond
        present = bool(req)
        if self.base == "null":
            want_absent = [v.strip().lower() == "true" for v in cond.values if v.strip().lower() in ("true", "false")]
            ok = any((not present) == w for w in want_absent)
            return ok, ("key absent" if not present else "key present") + (
                ", as required" if ok else ", not as required"
            )
        if not present:
            return _absent(cond, self.negated)
        assert req is not None
        preds = self.fixed if self.fixed is not None else _substituted(self.base, cond.values, ctx)
        return _present(cond.set_op, self.negated, preds, req)


def _absent(cond: ConditionSpec, negated: bool) -> tuple[bool, str]:
    if cond.if_exists:
        return True, "key absent: IfExists holds"
    if cond.set_op == "ForAllValues":
        return True, "key absent or empty: ForAllValues holds vacuously"
    if cond.set_op == "ForAnyValue":
        return False, "key absent or empty: ForAnyValue fails"
    return negated, ("key absent: a negated operator holds" if negated else "key absent from the request")


def _present(
    set_op: str | None, negated: bool, preds: Sequence[Callable[[str], bool]], req: tuple[str, ...]
) -> tuple[bool, str]:
    def one(v: str) -> bool:
        """Does request value ``v`` match any policy value (positive form)?"""
        return any(bool(pred(v)) for pred in preds)

    if set_op == "ForAllValues":
        ok = all((not one(v)) if negated else one(v) for v in req)
        reason = "every request value " + ("is outside" if negated else "is within") + " the policy values"
        if not ok:
            reason = "a request value " + ("matches" if negated else "is outside") + " the policy values"
        return ok, reason
    if set_op == "ForAnyValue":
        ok = any((not one(v)) if negated else one(v) for v in req)
        reason = "some request value " + ("is outside" if negated else "matches") + " the policy values"
        if not ok:
            reason = "no request value " + ("is outside" if negated else "matches") + " the policy values"
        return ok, reason
    hit = any(one(v) for v in req)
    ok = not hit if negated else hit
    reason = ("a request value matches" if hit else "no request value matches") + " a policy value"
    if negated:
        reason += " (negated operator)"
    return ok, reason


def evaluate_condition(cond: ConditionSpec, ctx: Ctx, effect: str = "Allow") -> ConditionTrace:
    """Evaluate one (operator, key) pair against the request context; return its trace."""
    return CompiledCondition(cond).trace(ctx, effect)


_VAR_RE = re.compile(r"\$\{([^},']+)")


def _undetermined_mode(req: tuple[str, ...] | None, values: Sequence[str], ctx: Ctx) -> str | None:
    """ "deny"/"allow" when the condition reads a key (or a policy variable) marked undetermined
    (``diag.policy.context.UNDETERMINED``), else None."""
    mode = undetermined_mode(req) if req is not None else None
    if mode:
        return mode
    for p in values:
        if "${" not in p:
            continue
        for name in _VAR_RE.findall(p):
            var = ctx.get(name.strip().lower())
            mode = undetermined_mode(var) if var is not None else None
            if mode:
                return mode
    return None


def evaluate_conditions(
    conds: Sequence[ConditionSpec], ctx: Ctx, effect: str = "Allow"
) -> tuple[bool, tuple[ConditionTrace, ...]]:
    """AND over every (operator, key) pair; all pairs are evaluated so that the trace is complete."""
    traces = tuple(evaluate_condition(c, ctx, effect) for c in conds)
    return all(t.matched for t in traces), traces


def normalize_context(context: Mapping[str, object] | None) -> dict[str, tuple[str, ...]]:
    """Request context → lower-cased keys and tuples of strings (bools as "true"/"false", numbers as text).

    Values of unusable types (objects) are dropped: the key is then absent, never a crash.
    """
    out: dict[str, tuple[str, ...]] = {}
    if not context or not isinstance(context, Mapping):
        return out
    for k, v in context.items():
        if type(v) is str and type(k) is str:
            out[k.lower()] = (v,)
            continue
        if not isinstance(k, str):
            continue
        vals = _to_strs(v)
        if vals is not None:
            out[k.lower()] = vals
    return out


def _to_strs(v: object) -> tuple[str, ...] | None:
    if isinstance(v, list | tuple):
        vals = [scalar_text(x) for x in v]
        return tuple(x for x in vals if x is not None)
    s = scalar_text(v)
    return None if s is None else (s,)
