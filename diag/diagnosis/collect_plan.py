"""What to collect, each command once: the gaps of one answer grouped by the place their evidence goes.

Several layers come from the same bundle folder: the key's folder holds its metadata, key policy, grants and
tags; the caller account's ``iam`` file holds its identity policies and permission boundary; the
Organizations folder holds SCPs and RCPs. A gap per layer would print the same commands once per layer, so
the gaps (``diag.rules.unknown.gap_list``, each with its ``location``) are grouped by location: one step per
place, listing the layers it fills, its commands in first-seen order without repeats, and one final command
that loads the bundle. The per-gap lists stay as they are (JSON ``gaps[].collect``); the plan is added beside
them (JSON ``collect_plan``) and is what the terminal prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diag.collect import commands
from diag.collect.bundle import org_dir
from diag.shell import comment

# What each gap fills, in words (a gap's ``what``; an unlisted one is shown as it is).
FILLS = {
    "key": "key metadata",
    "keys": "key list",
    "aliases": "aliases",
    "key_policy": "key policy",
    "grants": "grants",
    "key_tags": "key tags",
    "identity": "identity policies",
    "principal": "caller's role or user",
    "permission_boundary": "permission boundary",
    "scp": "SCPs",
    "rcp": "RCPs",
    "org": "organization policies",
    "bucket_policy": "bucket policy",
    "bucket_encryption": "bucket encryption",
    "bucket_location": "bucket location",
    "session_policy": "session policy",
    "trail": "CloudTrail records",
}


# The Organizations folder of a management account kmsdiag does not know (its credentials run that step).
_UNKNOWN_READER = f"BUNDLE/{org_dir(commands.MANAGEMENT_ACCOUNT)}"


def fills_text(whats: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(FILLS.get(w, w) for w in whats))


def collect_plan(gaps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One step per place the gaps' evidence goes (``{"location", "account", "fills", "credentials",
    "commands"}``; ``account``: whose credentials run it, None when that is a management account kmsdiag does
    not know), then the step that loads the bundle when any step writes bundle files."""
    steps: dict[str, dict[str, Any]] = {}
    loads: list[str] = []
    own_comments: set[str] = set()
    for g in gaps:
        what = str(g.get("what") or "")
        cmds = [str(c) for c in g.get("collect") or () if c]
        place = str(g.get("location") or "")
        step = steps.get(place or "\n".join(cmds))  # no known place: its own commands group it
        if step is None:
            made = commands.collect_step(what, account=g.get("account"), region=None, resource=g.get("resource"))
            step = steps[place or "\n".join(cmds)] = {
                "location": place or None,
                "account": None if place == _UNKNOWN_READER else g.get("account"),  # whose credentials run it
                "fills": [],
                "credentials": next((c for c in cmds if c.lstrip().startswith("#")), made.credentials),
                "commands": [],
            }
        own_comments.update(c for c in cmds if c.lstrip().startswith("#"))
        if what and what not in step["fills"]:
            step["fills"].append(what)
        if what and what not in loads and (commands.LOAD_BUNDLE in cmds or place.startswith("BUNDLE/")):
            loads.append(what)
        step["commands"].extend(
            c
            for c in dict.fromkeys(cmds)
            if c != commands.LOAD_BUNDLE and not c.lstrip().startswith("#") and c not in step["commands"]
        )
    # a step with no command keeps its gap's own comment: what can be done when nothing can be collected
    plan = [s for s in steps.values() if s["commands"] or s["credentials"] in own_comments]
    if loads:  # files go into BUNDLE: its manifest first (the time they are collected), the load last
        plan.insert(
            0,
            {
                "location": "BUNDLE",
                "account": None,
                "fills": [],
                "credentials": comment(
                    "first, in a new empty folder, the bundle's manifest: the time these files are collected (UTC; it dates every file in BUNDLE)"
                ),
                "commands": [commands.MANIFEST],
            },
        )
        plan.append(
            {
                "location": None,
                "account": None,
                "fills": loads,
                "credentials": comment("then load the bundle into kmsdiag (no AWS credentials needed)"),
                "commands": [commands.LOAD_BUNDLE],
            }
        )
    return plan


def plan_lines(plan: Iterable[dict[str, Any]]) -> list[str]:
    """The plan as lines to paste: per step a comment (whose credentials; the layers it fills), its commands.
    The manifest and loading steps say only what they do (the layers are named by the steps between them),
    and a step with no command only its comment (what can be done instead)."""
    out: list[str] = []
    for step in plan:
        head = str(step.get("credentials") or "#").lstrip()[1:].strip()
        if step["commands"] and step["commands"] not in ([commands.LOAD_BUNDLE], [commands.MANIFEST]):
            head += ("; " if head else "") + "fills: " + fills_text(step.get("fills") or ())
        out.append(comment(head))
        out.extend(step["commands"])
    return out
