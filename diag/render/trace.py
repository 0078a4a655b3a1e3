"""Terminal rendering of an engine decision: the verdict, each layer, each statement and condition.

Every string that can come from a policy or a CloudTrail record (ARNs, Sids, condition values, policy
names) goes through ``safe_text``: rich markup and terminal escapes print literally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag.render.escape import safe_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

    from diag.policy.model import EvaluationResult, LayerTrace, StatementTrace

_RESULT_STYLE = {
    "Allowed": "bold green",
    "ExplicitlyDenied": "bold red",
    "ImplicitlyDenied": "bold yellow",
    "NotApplicable": "dim",
    "Unknown": "bold magenta",
}


def _line(*parts: tuple[object, str]) -> Text:
    from rich.text import Text

    t = Text()
    for value, style in parts:
        t.append_text(safe_text(value, style))
    return t


def _statement(st: StatementTrace) -> RenderableType:
    from rich.text import Text

    mark = ("✔ applies", "green") if st.applies else ("✘ does not apply", "dim")
    head = _line(
        (f"  {st.effect} ", "bold"),
        (f"#{st.index}" + (f" {st.sid}" if st.sid else ""), ""),
        (f"  [{st.policy_name}]" if st.policy_name else "", "dim"),
        ("  ", ""),
        mark,
    )
    lines: list[Text] = [head]
    for m in (st.action, st.resource, st.principal):
        if m is None:
            continue
        vals = ", ".join(m.policy_values) or "—"
        lines.append(
            _line(
                ("    " + ("✔ " if m.matched else "✘ "), "green" if m.matched else "red"),
                (f"{m.element}: ", "bold"),
                (vals, ""),
                (f"  ({m.reason})" if m.reason else "", "dim"),
            )
        )
    for c in st.conditions:
        got = "absent" if c.request_values is None else ", ".join(c.request_values)
        lines.append(
            _line(
                ("    " + ("✔ " if c.matched else "✘ "), "green" if c.matched else "red"),
                (f"{c.operator} {c.key}: ", "bold"),
                (", ".join(c.policy_values), ""),
                (f"  request: {got}", ""),
                (f"  ({c.reason})" if c.reason else "", "dim"),
                ("  UNKNOWN OPERATOR" if c.unknown_operator else "", "bold magenta"),
            )
        )
    for nm in st.near_misses:
        lines.append(
            _line(("    ≈ near miss: ", "yellow"), (f"{nm.policy_value} vs {nm.request_value}: {nm.detail}", ""))
        )
    return Text("\n").join(lines)


def _layer(lt: LayerTrace) -> list[RenderableType]:
    title = _line(
        (lt.layer.value, "bold"),
        (f" ({lt.org_identifier})" if lt.org_identifier else "", ""),
        (f" account {lt.account}" if lt.account else "", "dim"),
        (": ", ""),
        (lt.result.value, _RESULT_STYLE.get(lt.result.value, "")),
        (f" — {lt.reason}" if lt.reason else "", ""),
    )
    out: list[RenderableType] = [title]
    out.extend(_statement(st) for st in lt.statements)
    for g in lt.grants:
        out.append(
            _line(
                ("  grant ", "bold"),
                (g.grant_id, ""),
                ("  ✔ applies" if g.applies else "  ✘ does not apply", "green" if g.applies else "dim"),
                (f"  ({g.reason})" if g.reason else "", "dim"),
            )
        )
    return out


def render_result(result: EvaluationResult, console: Console) -> None:
    """Print the decision, the reason, the gaps and every layer's trace."""
    req = result.request
    console.print(
        _line(
            ("Decision: ", "bold"),
            (result.decision.value, _RESULT_STYLE.get(result.decision.value, "")),
            (f" — {result.reason}" if result.reason else "", ""),
        )
    )
    console.print(
        _line(
            ("Request: ", "dim"),
            (f"{req.principal} → {req.action} on {req.resource}", ""),
            (" (cross-account)" if result.cross_account else "", "dim"),
        )
    )
    if result.deciding_layers:
        console.print(_line(("Deciding layer(s): ", "dim"), (", ".join(x.value for x in result.deciding_layers), "")))
    if result.unknown:
        console.print(
            _line(
                ("Not collected (computed as allowing): ", "magenta"), (", ".join(x.value for x in result.unknown), "")
            )
        )
    for lt in result.layers:
        console.print()
        for item in _layer(lt):
            console.print(item)
