"""Caches belong to objects: bounded tables, an engine's own caches, compiled statements' memos."""

from __future__ import annotations

from diag.policy import engine
from diag.policy.cache import BoundedCache, EngineCache
from diag.policy.model import Decision, Layer, NamedPolicy, PolicyInputs, Request
from diag.policy.parse import PolicyParser

from .helpers import KEY_ARN, ROLE_ARN, SESSION_ARN, policy, root_statement, stmt


def test_bounded_cache_drops_the_oldest_entry_when_full() -> None:
    c: BoundedCache[str, int] = BoundedCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.put("c", 3) == 3
    assert len(c) == 2 and "a" not in c and c.get("b") == 2 and c.get("c") == 3
    c.clear()
    assert len(c) == 0 and c.get("b") is None


def _inputs(key_policy: dict) -> PolicyInputs:
    return PolicyInputs(
        identity_policies=(NamedPolicy(policy(stmt(resource=KEY_ARN)), "id"),),
        resource_policy=NamedPolicy(key_policy, "default"),
        resource_policy_layer=Layer.KEY_POLICY,
    )


def test_engines_do_not_share_caches_and_clear_only_their_own() -> None:
    request = Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, "111111111111")
    inputs = _inputs(policy(root_statement(), stmt(Principal={"AWS": ROLE_ARN})))
    a, b = engine.Engine(), engine.Engine(EngineCache(decisions=4), PolicyParser())
    first = a.evaluate(request, inputs)
    assert first.decision == Decision.ALLOWED
    assert len(a.cache.decisions) == 1 and len(b.cache.decisions) == 0
    assert a.evaluate(request, inputs) is first  # answered from its own cache
    assert b.evaluate(request, inputs).to_dict() == first.to_dict()
    assert len(b.parser.cache) == 2  # b parsed with its own parser
    a.clear()
    assert len(a.cache.decisions) == 0 and len(b.cache.decisions) == 1
    assert len(a.cache.policies) == 2  # compiled policies survive clear() ...
    a.clear(compiled=True)
    assert len(a.cache.policies) == 0  # ... not clear(compiled=True)


def test_decision_cache_keys_include_whether_the_trace_was_built() -> None:
    request = Request(SESSION_ARN, "kms:Decrypt", KEY_ARN, "111111111111")
    inputs = _inputs(policy(root_statement(), stmt("Deny", Principal={"AWS": ROLE_ARN})))
    e = engine.Engine()
    fast = e.evaluate(request, inputs, trace=False)
    full = e.evaluate(request, inputs)
    assert fast.decision == full.decision == Decision.EXPLICITLY_DENIED and fast.reason == full.reason
    # the full trace lists every statement; the decision-only result only the applying ones
    listed = [s for lt in fast.layers for s in lt.statements]
    assert all(s.applies for s in listed) and len(listed) == 2  # the identity Allow and the key policy Deny
    assert len([s for lt in full.layers for s in lt.statements]) == 3  # and the root statement (another account)
