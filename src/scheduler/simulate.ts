// One scheduling run plus the simulated execution, producing crm_simulate -S text.
import { parseCib } from './cib/parse.js';
import { formatBlockedHeader, formatStatus } from './format/status.js';
import { formatTransitionSummary } from './format/transition.js';
import { resolveColocations } from './placement/colocation.js';
import { Assigner, applyNodeCriteria } from './placement/assign.js';
import { formatScore } from './score.js';
import type { NodeStateRecord, OpRecord } from './status/model.js';
import { parseStatus } from './status/parse-status.js';
import { unpack } from './status/unpack.js';
import { clearOrphanFailCounts, handleConfigChanges } from './transition/config-changes.js';
import { createGroupActions, createOrderings, createResourceActions, propagate, scheduleProbes, scheduleShutdowns } from './transition/actions.js';
import { buildGraph, executionOrder } from './transition/graph.js';
import { scheduleFencing } from './transition/fencing.js';
import { applyTicketConstraints } from './placement/tickets.js';
import { createLoadStoppedActions, createUtilizationOrderings } from './placement/utilization.js';
import { createNotifications } from './transition/notify.js';
import type { Action, Rsc, WorkingSet } from './working-set.js';

export interface SimulateOptions {
  /** Epoch seconds used as "now" when the CIB has no execution-date. */
  readonly now: number;
}

export interface SimulateResult {
  readonly text: string;
  readonly scores: string[];
  readonly executed: Action[];
  readonly ws: WorkingSet;
}

export interface ScheduleResult {
  readonly ws: WorkingSet;
  readonly scores: string[];
}

export function schedule(config: ReturnType<typeof parseCib>['config'], states: NodeStateRecord[], now: number): ScheduleResult {
  return scheduleWorkingSet(unpack(config, states, { now }));
}

/** Everything after unpacking: constraints, placement and the actions to get there. */
export function scheduleWorkingSet(ws: WorkingSet): ScheduleResult {
  applyTicketConstraints(ws);
  applyNodeCriteria(ws);
  handleConfigChanges(ws);
  createLoadStoppedActions(ws);
  const colocations = resolveColocations(ws);
  const assigner = new Assigner(ws, colocations);
  const scores: string[] = [];
  assigner.assignAll();
  for (const g of [...ws.groups, ...ws.clones]) scores.push(...(g.assignScores ?? []), ...(g.promotionScores ?? []));
  for (const r of ws.rscs) {
    if (r.orphan && r.cloneOf) continue;
    // Nor has an orphan that is not active anywhere (it is only cleaned up).
    if (r.orphan && r.runningOn.length === 0) continue;
    for (const n of ws.nodes) {
      const s = (r.printedScores ?? r.allowed).get(n.id);
      if (s !== undefined) scores.push(`pcmk__primitive_assign: ${r.id} allocation score on ${n.uname}: ${formatScore(s)}`);
    }
  }
  scheduleProbes(ws);
  clearOrphanFailCounts(ws);
  for (const r of ws.rscs) {
    createResourceActions(ws, r);
    const g = r.group;
    if (g && g.children[g.children.length - 1] === r) createGroupActions(ws, g);
  }
  createUtilizationOrderings(ws);
  createOrderings(ws, colocations);
  scheduleFencing(ws);
  scheduleShutdowns(ws);
  propagate(ws, colocations);
  createNotifications(ws);
  return { ws, scores };
}

function inject(states: NodeStateRecord[], executed: Action[]): NodeStateRecord[] {
  const out: NodeStateRecord[] = states.map((s) => ({ ...s, transientAttrs: { ...s.transientAttrs }, history: s.history.map((h) => ({ ...h, ops: [...h.ops] })) }));
  let callId = 0;
  for (const s of out) for (const h of s.history) for (const o of h.ops) callId = Math.max(callId, o.callId);
  for (const a of executed) {
    if (!a.node) continue;
    let st = out.find((s) => s.id === a.node!.id);
    if (a.task === 'do_shutdown') continue;
    if (a.task === 'stonith') {
      if (st) {
        const i = out.indexOf(st);
        out[i] = { ...st, inCcm: 'false', crmd: 'offline', join: 'down', expected: 'down', history: [] };
      } else {
        out.push({ id: a.node.id, uname: a.node.uname, inCcm: 'false', crmd: 'offline', join: 'down', expected: 'down', transientAttrs: {}, history: [] });
      }
      continue;
    }
    if (a.rsc && a.task === 'delete') {
      if (st) st.history = st.history.filter((h) => h.rscId !== a.rsc!.id);
      continue;
    }
    if (!a.rsc || a.group || a.pseudo || a.task === 'cancel' || a.task === 'clear_failcount' || a.task === 'notify') continue;
    if (!st) {
      st = { id: a.node.id, uname: a.node.uname, inCcm: 'true', crmd: 'online', join: 'member', expected: 'member', transientAttrs: {}, history: [] };
      out.push(st);
    }
    const name = executorName(a.rsc);
    let h = st.history.find((x) => x.rscId === name);
    if (!h) {
      h = { rscId: name, class: a.rsc.def.class, provider: a.rsc.def.provider, type: a.rsc.def.type, ops: [] };
      st.history.push(h);
    }
    // Probes and stopped-role monitors report what they expect ("not running" for example).
    const rc = a.task === 'monitor' ? a.expectedRc : 0;
    // The injected result replaces a pending record of the same operation.
    h.ops = h.ops.filter((o) => !(o.callId < 0 && o.task === a.task && o.intervalMs === a.intervalMs));
    const op: OpRecord = { id: `${a.key}`, task: a.task, intervalMs: a.intervalMs, callId: ++callId, rc, opStatus: 0, expectedRc: rc };
    h.ops.push(op);
  }
  return out;
}

export function simulate(xml: string, opts: SimulateOptions, source = 'CIB'): SimulateResult {
  const { root, config } = parseCib(xml, source);
  const states = parseStatus(root);
  const ws = unpack(config, states, { now: opts.now });
  // crm_simulate prints the cluster as unpacked, before constraints are applied.
  const blockedHeader = formatBlockedHeader(ws);
  const currentStatus = formatStatus(ws, true);
  const { scores } = scheduleWorkingSet(ws);
  const executed = executionOrder(buildGraph(ws));
  const lines: string[] = [];
  const dateLine = config.executionDate === undefined ? '' :
    `Using the original execution date of: ${new Date(config.executionDate * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`;
  if (dateLine) lines.push(dateLine);
  if (config.validateWith === 'none') {
    lines.push('Schema validation of configuration is disabled (enabling is encouraged and prevents common misconfigurations)');
  }
  if (config.options.maintenanceMode) {
    // crm_mon's cluster-wide maintenance notice.
    lines.push('', '              *** Resource management is DISABLED ***', '  The cluster will not attempt to start, stop or recover services', '');
  }
  lines.push(...blockedHeader);
  lines.push('Current cluster status:');
  lines.push(...currentStatus);
  lines.push('');
  lines.push('Transition Summary:');
  lines.push(...formatTransitionSummary(ws));
  lines.push('');
  lines.push('Executing Cluster Transition:');
  for (const a of executed) lines.push(formatExecuted(a));
  if (config.executionDate !== undefined) lines.push(dateLine);
  lines.push('');
  const after = unpack(config, inject(states, executed), { now: opts.now });
  lines.push('Revised Cluster Status:');
  lines.push(...formatStatus(after));
  return { text: lines.join('\n') + '\n', scores, executed, ws };
}

export function formatExecuted(a: Action): string {
  if (a.task === 'stonith') return `  * Fencing ${a.fenceTarget?.uname ?? a.node?.uname} (${a.fenceAction})`;
  // A cluster action names the resource as configured (an anonymous clone instance by its base id).
  if (a.task === 'clear_failcount') return `  * Cluster action:  clear_failcount for ${configuredName(a.rsc!)} on ${a.node!.uname}`;
  if (a.task === 'do_shutdown') return `  * Cluster action:  do_shutdown on ${a.node!.uname}`;
  if (a.pseudo) {
    // The graph keys a renamed instance's action by the name its history was recorded under.
    const named = a.rsc?.cloneName && a.key.startsWith(`${a.rsc.id}_`) ? `${a.rsc.cloneName}${a.key.slice(a.rsc.id.length)}` : a.key;
    return `  * Pseudo action:   ${named}`;
  }
  if (!a.rsc) return `  * Pseudo action:   ${a.key}`;
  const name = executorName(a.rsc);
  return `  * Resource action: ${name.padEnd(15)} ${a.label} on ${a.node!.uname}`;
}

/**
 * The name crm_simulate shows for a resource's action: the graph names an anonymous instance by the
 * child's id, kept when some instance's history is recorded under it; else by the name its history
 * was recorded under, else its instance id.
 */
export function executorName(rsc: Rsc): string {
  const cl = rsc.cloneOf?.clone;
  if (!cl || cl.unique) return rsc.id;
  // The configured id: the primitive's, also for a member of a cloned group.
  const base = rsc.id.replace(/:\d+$/, '');
  const known = !rsc.orphan && rsc.cloneOf!.children.some((c) => c.id === base || c.cloneName === base);
  return known ? base : rsc.cloneName ?? rsc.id;
}

/** A cluster action names the resource as configured: an anonymous clone instance by its primitive's id. */
function configuredName(rsc: Rsc): string {
  const cl = rsc.cloneOf?.clone;
  return cl && !cl.unique && !rsc.orphan ? rsc.id.replace(/:\d+$/, '') : rsc.id;
}
