"""`kmsdiag impact` output: text for a terminal, Markdown for a pull-request comment, SARIF for code
scanning. JSON is ``ImpactReport.to_dict()``. CloudTrail values are escaped (Markdown) or printed as plain
text (never as console markup); ARNs are never wrapped or cut."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diag.impact.replay import ImpactReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _when(v: Any) -> str:
    return v.isoformat(timespec="seconds") + "Z" if isinstance(v, dt.datetime) else str(v or "")


def _refused(b: dict[str, Any]) -> str:
    r = b["refused_by"]
    sts = r.get("statements") or []
    if sts:
        s = sts[0]
        if s.get("statement"):  # not a policy statement: the key's state (scheduled for deletion)
            return f"{s['layer']}: {s['statement']}"
        sid = f' "{s["sid"]}"' if s.get("sid") else ""
        return f"{s['layer']} statement{sid} #{s['index']} ({s.get('policy') or ''}) denies"
    return f"{', '.join(r.get('layers') or ['a layer'])}: no statement allows ({r.get('decision')})"


def headline(rep: ImpactReport) -> str:
    n_new = len(rep.new_access or [])
    skipped = f", {len(rep.not_replayed)} resource(s) not replayed" if rep.not_replayed else ""
    return (
        f"{len(rep.breaks)} observed call(s) would break, {n_new} new access grant(s), {rep.unchanged} unchanged"
        f"{skipped} ({rep.distinct_calls} distinct calls, {rep.events} events, {_when(rep.since)} to"
        f" {_when(rep.until)})"
    )


def text_lines(rep: ImpactReport) -> list[str]:
    out = ["Proposed: " + "; ".join(rep.changes or ["nothing replayable"]), headline(rep)]
    if rep.breaks:
        out.append("")
        out.append("Would break:")
        for b in rep.breaks:
            out.append(
                f"  {b['principal']} {b['action']} on {b['key_arn']}: {b['count']} call(s), last {_when(b['last_seen'])}"
                f" — {_refused(b)}"
            )
    if rep.new_access:
        out.append("")
        out.append("New access:")
        for a in rep.new_access:
            out.append(f"  {a['principal']} may {', '.join(a['actions'])} on {a['key_arn']}")
    if rep.removed_access:
        out.append("")
        out.append("Access removed (observed or not):")
        for a in rep.removed_access:
            out.append(f"  {a['principal']} loses {', '.join(a['actions'])} on {a['key_arn']}")
    if rep.unexplained:
        out.append("")
        out.append(
            f"{len(rep.unexplained)} observed call(s) the collected policies do not allow even now (a layer is missing):"
        )
        for u in rep.unexplained[:10]:
            out.append(f"  {u['principal']} {u['action']} on {u['key_arn']}: {u['reason']}")
    if rep.not_replayed:
        out.append("")
        out.append(f"Not replayed ({len(rep.not_replayed)}): what they change is not in the answer above")
        out += [f"  {n.text()}" for n in rep.not_replayed]
    for n in rep.notes:
        out.append(f"note: {n}")
    return out


def _md(text: Any) -> str:
    from diag.report.markdown import md_text

    return md_text(text)


def _code(text: Any) -> str:
    from diag.report.markdown import md_code

    return md_code(text)


def markdown(rep: ImpactReport) -> str:
    out = ["### kmsdiag impact", "", _md(headline(rep)), ""]
    out += ["Proposed change(s):", *[f"- {_md(c)}" for c in rep.changes], ""]
    if rep.breaks:
        out += [
            "#### Would break",
            "",
            "| caller | action | key | calls | last seen | refused by |",
            "|---|---|---|---|---|---|",
        ]
        for b in rep.breaks:
            out.append(
                f"| {_code(b['principal'])} | {_md(b['action'])} | {_code(b['key_arn'])} | {b['count']} | {_when(b['last_seen'])} | {_md(_refused(b))} |"
            )
        out.append("")
    if rep.new_access:
        out += ["#### New access", "", "| principal | actions | key |", "|---|---|---|"]
        for a in rep.new_access:
            out.append(f"| {_code(a['principal'])} | {_md(', '.join(a['actions']))} | {_code(a['key_arn'])} |")
        out.append("")
    if rep.not_replayed:
        out += [
            "#### Not replayed",
            "",
            "What these resources change is not in the answer above.",
            "",
            "| resource | type | why |",
            "|---|---|---|",
        ]
        for n in rep.not_replayed:
            out.append(f"| {_code(n.where)} | {_md(n.kind)} | {_md(n.reason)} |")
        out.append("")
    out += [f"- {_md(n)}" for n in rep.notes]
    return "\n".join(out) + "\n"


def sarif(rep: ImpactReport, artifact: str | None = None) -> dict[str, Any]:
    results = []
    loc = [{"physicalLocation": {"artifactLocation": {"uri": artifact}}}] if artifact else []
    for b in rep.breaks:
        results.append(
            {
                "ruleId": "KMSDIAG_IMPACT_BREAKS_OBSERVED_CALL",
                "level": "error",
                "message": {
                    "text": f"{b['principal']} {b['action']} on {b['key_arn']} ({b['count']} call(s), last"
                    f" {_when(b['last_seen'])}) would be refused: {_refused(b)}"
                },
                "locations": loc,
            }
        )
    for a in rep.new_access or []:
        results.append(
            {
                "ruleId": "KMSDIAG_IMPACT_NEW_ACCESS",
                "level": "warning",
                "message": {"text": f"{a['principal']} may newly {', '.join(a['actions'])} on {a['key_arn']}"},
                "locations": loc,
            }
        )
    for n in rep.not_replayed:
        results.append(
            {
                "ruleId": "KMSDIAG_IMPACT_NOT_REPLAYED",
                "level": "warning",
                "message": {"text": f"not replayed: {n.text()}"},
                "locations": loc,
            }
        )
    rules = [
        {
            "id": "KMSDIAG_IMPACT_BREAKS_OBSERVED_CALL",
            "shortDescription": {"text": "The change refuses a call observed in CloudTrail"},
        },
        {
            "id": "KMSDIAG_IMPACT_NEW_ACCESS",
            "shortDescription": {"text": "The change grants access that did not exist"},
        },
        {
            "id": "KMSDIAG_IMPACT_NOT_REPLAYED",
            "shortDescription": {"text": "A resource of the change could not be replayed against observed calls"},
        },
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "kmsdiag", "rules": rules}}, "results": results}],
    }
