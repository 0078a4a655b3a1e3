// Reference driver for benchmarks/bench_simulate.py: reads kmsdiag request documents (JSON Lines) on
// stdin, runs each through iam-simulate's runSimulation, writes one JSON line per request on stdout.
// Default output: {"id", "decision"}; with --full: {"id", "decision", "result"} (iam-simulate's whole
// result object, its counterpart of kmsdiag's full trace).
import { createInterface } from 'node:readline';
import { runSimulation } from '@cloud-copilot/iam-simulate';

const full = process.argv.includes('--full');

function named(policies, prefix) {
  return (policies || []).map((p, i) => ({ name: `${prefix}${i}`, policy: p }));
}

function levels(levelsIn) {
  return (levelsIn || []).map((lv) => ({
    orgIdentifier: lv.org_identifier,
    policies: named(lv.policies, `${lv.org_identifier}-`),
  }));
}

function toSimulation(doc) {
  const r = doc.request;
  const sim = {
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.resource_account },
      contextVariables: r.context || {},
    },
    identityPolicies: named(doc.identity_policies, 'identity'),
    serviceControlPolicies: levels(doc.scps),
    resourceControlPolicies: levels(doc.rcps),
  };
  if (doc.resource_policy) sim.resourcePolicy = doc.resource_policy;
  if (doc.permission_boundary) sim.permissionBoundaryPolicies = [{ name: 'pb', policy: doc.permission_boundary }];
  if (doc.session_policy) sim.sessionPolicy = doc.session_policy;
  return sim;
}

const out = [];
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const doc = JSON.parse(line);
  const res = await runSimulation(toSimulation(doc), {});
  const decision = res.resultType === 'error' ? 'error' : res.overallResult;
  out.push(JSON.stringify(full ? { id: doc.id, decision, result: res } : { id: doc.id, decision }));
  if (out.length >= 512) {
    process.stdout.write(out.join('\n') + '\n');
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
