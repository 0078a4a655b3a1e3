"""Regenerate examples/explore.ipynb (run from the repository root): python examples/make_explore_notebook.py

With --execute it also runs the notebook (nbclient, kernel in examples/, as Jupyter would) against the
kmsdiag-demo.duckdb that `kmsdiag demo` wrote at the repository's top, and saves it with its outputs.
"""

import sys

import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
    md("""# Exploring a kmsdiag database

This notebook opens a kmsdiag database **read-only** (close it when done: even a read-only connection keeps
a nightly run from writing). It runs from any working directory: it opens `$KMSDIAG_DB` when set, else the
`kmsdiag-demo.duckdb` that `kmsdiag demo` writes, found in the working directory, one of its parents, or
the top of the kmsdiag checkout (`diag.notebook.find_database`). Or set `DB` in the next cell.
It answers five questions:

1. Which keys fail most?
2. Which roles fail, and
3. since when?
4. Which fixes would remove the most failures?
5. What changed in the policies before a spike?

Every helper in `diag.notebook` returns a pandas DataFrame; the same data is in the documented views
(`failures`, `causes`, `policy_timeline`, … see docs/database.md), which plain SQL can query too."""),
    code("""import os
import pathlib
import sys

# Running from a checkout without installing kmsdiag: make the repository importable.
for parent in [pathlib.Path.cwd().resolve(), *pathlib.Path.cwd().resolve().parents]:
    if (parent / "diag" / "__init__.py").exists():
        sys.path.insert(0, str(parent))
        break

import pandas as pd

import diag
import diag.notebook as nb

pd.set_option("display.max_colwidth", 80)
DB = nb.find_database()  # $KMSDIAG_DB, else kmsdiag-demo.duckdb here, above, or at the checkout's top
print(f"database: {os.path.relpath(DB)}")
con = diag.open(str(DB), read_only=True)
con.sql("SELECT verdict, failures, causes, first_seen, last_seen FROM failures_by_verdict").df()"""),
    md("## 1. Which keys fail most?"),
    code("""keys = nb.top_keys(con, limit=10)
keys[["key_ref", "key_account", "failures", "callers", "causes", "verdicts", "last_failure"]]"""),
    md("## 2. Which roles (or users) fail, and 3. since when?"),
    code("""callers = nb.top_callers(con, limit=10)
callers[["caller_principal", "failures", "keys", "verdicts", "failing_since", "last_failure"]]"""),
    md("""Each distinct cause (verdict + caller + key + action), with when it started and stopped failing.
`kmsdiag explain <event id>` prints the full evidence for any of the example events."""),
    code("""causes = nb.causes(con)
causes[["verdict", "caller_principal", "action", "failures", "first_seen", "last_seen", "example_event_ids"]]"""),
    md("## 4. Which fixes would remove the most failures?"),
    code("""fixes = nb.fixes(con)
fixes[["verdict", "fix_summary", "failures_removed", "causes", "first_command"]]"""),
    code("""if not fixes.empty:
    best = fixes.iloc[0]
    share = best.failures_removed / fixes.failures_removed.sum()
    print(f"Fixing '{best.fix_summary}' removes {best.failures_removed} failures ({share:.0%} of the diagnosed ones):")
    print(best.first_command)"""),
    md("## 5. What changed in the policies before a spike?"),
    code("""spikes = nb.spikes(con, freq="hour", top=3)
spikes"""),
    code("""if spikes.empty:
    print("no failures, so no spike")
    changes = pd.DataFrame()
else:
    spike_at = spikes.bucket.iloc[0]
    accounts = nb.spike_accounts(con, spike_at, freq="hour")  # the callers' and keys' accounts of the spike
    changes = nb.changes_before(con, spike_at + pd.Timedelta(hours=1), hours=48, accounts=accounts)
    print(f"Policy changes in the 48 hours before the spike of {spike_at}, in the accounts involved ({', '.join(accounts)}):")
if not spikes.empty and changes.empty:
    print("no policy change was logged in those accounts in the 48 hours before the spike")
changes[["change_time", "account", "change_kind", "event_name", "target", "actor"]] if not changes.empty else changes"""),
    md("## Failures over time, by verdict"),
    code("""span = con.execute("SELECT max(event_time) - min(event_time) FROM failures").fetchall()[0][0]
freq = "day" if span is not None and span > pd.Timedelta(days=3) else "hour"
ax = nb.plot_failures_over_time(con, freq=freq, top=7)  # the top 7 verdicts by name, the rest as "N other verdicts"
print(f"{sum(int(p.get_height()) for p in ax.patches)} failures plotted in {len(ax.get_xticks())} {freq}s with failures")"""),
    md("Plain SQL works as well: every view is documented in docs/database.md."),
    code("""con.sql(\"\"\"
    SELECT caller_principal, key_ref, action, calls, successes, failures, latest_verdict
    FROM key_access_matrix
    ORDER BY failures DESC
    LIMIT 10
\"\"\").df()"""),
    code("con.close()"),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
if "--execute" in sys.argv:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": "examples"}}).execute()
nbf.write(nb, "examples/explore.ipynb")
