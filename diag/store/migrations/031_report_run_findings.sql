-- The policy-audit findings of every recorded report run, so the next report can say which findings are
-- new and which were resolved since. A finding's identity (finding_id) is a hash of its code, account,
-- resource, policy, statement (Sid, else its index) and the principal or grant it is about
-- (diag.report.audit_section.finding_id): its wording and dates may change, its identity does not.

-- One row per recorded run whose report had an audit section that ran (status ok).
CREATE TABLE IF NOT EXISTS report_run_audits (
    run_id    VARCHAR PRIMARY KEY,
    findings  BIGINT NOT NULL
);

-- One row per finding of such a run.
CREATE TABLE IF NOT EXISTS report_run_findings (
    run_id      VARCHAR NOT NULL,
    finding_id  VARCHAR NOT NULL,
    code        VARCHAR NOT NULL,
    severity    VARCHAR,
    account     VARCHAR,
    resource    VARCHAR,
    summary     VARCHAR,
    PRIMARY KEY (run_id, finding_id)
);
