// Utilization-aware placement (placement-strategy utilization, minimal or balanced):
// nodes offer capacities, resources consume them; a resource is banned from nodes that cannot
// hold it (with the resources that must run with it, when some node can), capacity is consumed
// as resources are assigned, and a "load_stopped_NODE" pseudo action orders stops on a node
// before starts there, so capacity is freed before it is used again.
import { INFINITY } from '../score.js';
import type { NodeInfo } from '../status/model.js';
import { customAction, order, type Action, type Rsc, type WorkingSet } from '../working-set.js';

export function utilizationMatters(ws: WorkingSet): boolean {
  return ws.config.options.placementStrategy.toLowerCase() !== 'default';
}

/** Pacemaker reads utilization values as integers; anything else counts as 0. */
function value(s: string | undefined): number {
  if (s === undefined) return 0;
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? parseInt(m[1]!, 10) : 0;
}

function capacity(ws: WorkingSet, node: NodeInfo): Map<string, number> {
  if (!node.remainingCapacity) {
    const def = ws.config.nodes.find((n) => n.id === node.id);
    node.remainingCapacity = new Map(Object.entries(def?.utilization ?? {}).map(([k, v]) => [k, value(v)]));
  }
  return node.remainingCapacity;
}

function usage(rsc: Rsc): Map<string, number> {
  return new Map(Object.entries(rsc.def.utilization).map(([k, v]) => [k, value(v)]));
}

function fits(ws: WorkingSet, node: NodeInfo, required: Map<string, number>): boolean {
  const cap = capacity(ws, node);
  for (const [k, need] of required) if (need > (cap.get(k) ?? 0)) return false;
  return true;
}

/** Negative when node a has more free capacity than node b, positive when less (Pacemaker's count of attributes). */
export function compareCapacities(ws: WorkingSet, a: NodeInfo, b: NodeInfo): number {
  const ca = capacity(ws, a), cb = capacity(ws, b);
  let result = 0;
  for (const [k, va] of ca) {
    const vb = cb.get(k) ?? 0;
    if (va > vb) result--;
    else if (va < vb) result++;
  }
  for (const [k, vb] of cb) {
    if (ca.has(k)) continue;
    if (0 > vb) result--;
    else if (0 < vb) result++;
  }
  return result;
}

/**
 * Bans rsc from available nodes without room for it and the not yet assigned resources that must
 * run with it; if no node has room for them all, only from nodes without room for rsc alone.
 * Returns the node with the most free capacity in that second case (the preferred node).
 */
export function banInsufficientCapacity(ws: WorkingSet, rsc: Rsc, colocated: Rsc[],
  available: (n: NodeInfo) => boolean, ban: (n: NodeInfo, why: string) => void): NodeInfo | undefined {
  if (!utilizationMatters(ws)) return undefined;
  const together = new Map<string, number>();
  for (const r of colocated.includes(rsc) ? colocated : [...colocated, rsc]) {
    if (!r.provisional) continue;
    for (const [k, v] of usage(r)) together.set(k, (together.get(k) ?? 0) + v);
  }
  const candidates = ws.nodes.filter((n) => (rsc.allowed.get(n.id) ?? -INFINITY) >= 0 && available(n));
  let anyCapable = false;
  let mostCapable: NodeInfo | undefined;
  for (const n of candidates) {
    if (fits(ws, n, together)) anyCapable = true;
    if (!mostCapable || compareCapacities(ws, n, mostCapable) < 0) mostCapable = n;
  }
  const own = usage(rsc);
  for (const n of candidates) {
    if (anyCapable ? !fits(ws, n, together) : !fits(ws, n, own)) {
      ban(n, anyCapable ? `not enough capacity for ${rsc.id} and the resources colocated with it` : `not enough capacity for ${rsc.id}`);
    }
  }
  return anyCapable ? undefined : mostCapable;
}

export function consumeCapacity(ws: WorkingSet, rsc: Rsc, node: NodeInfo): void {
  if (!utilizationMatters(ws)) return;
  const cap = capacity(ws, node);
  for (const [k, v] of usage(rsc)) if (cap.has(k)) cap.set(k, cap.get(k)! - v);
}

/** Gives back what an assignment consumed (the assignment was taken back). */
export function releaseCapacity(ws: WorkingSet, rsc: Rsc, node: NodeInfo): void {
  if (!utilizationMatters(ws)) return;
  const cap = capacity(ws, node);
  for (const [k, v] of usage(rsc)) if (cap.has(k)) cap.set(k, cap.get(k)! + v);
}

function loadStopped(ws: WorkingSet, node: NodeInfo): Action {
  const a = customAction(ws, undefined, 'load_stopped', node, false, { key: `load_stopped_${node.uname}`, pseudo: true });
  a.pseudo = true;
  return a;
}

function usesCapacity(ws: WorkingSet, rsc: Rsc): boolean {
  return utilizationMatters(ws) && Object.keys(rsc.def.utilization).length > 0;
}

const byName = (a: NodeInfo, b: NodeInfo): number => (a.uname < b.uname ? -1 : a.uname > b.uname ? 1 : 0);

/**
 * The load_stopped pseudo actions, made before placement as Pacemaker makes them with the
 * internal constraints: for each resource using capacity, its current nodes, then its allowed
 * nodes by name.
 */
export function createLoadStoppedActions(ws: WorkingSet): void {
  for (const rsc of ws.rscs) {
    if (!usesCapacity(ws, rsc)) continue;
    for (const node of rsc.runningOn) loadStopped(ws, node);
    for (const node of ws.nodes.filter((n) => rsc.allowed.has(n.id)).sort(byName)) loadStopped(ws, node);
  }
}

/** Stops on a node come before load_stopped there, which comes before starts there. */
export function createUtilizationOrderings(ws: WorkingSet): void {
  for (const rsc of ws.rscs) {
    if (!usesCapacity(ws, rsc)) continue;
    const on = (node: NodeInfo | undefined): Action | undefined =>
      node ? ws.actions.find((a) => !a.rsc && a.task === 'load_stopped' && a.node === node) : undefined;
    for (const a of rsc.actions) {
      const ls = on(a.node);
      if (!ls) continue;
      if (a.task === 'stop' && rsc.runningOn.includes(a.node!)) order(ws, a, ls);
      else if (a.task === 'start' || a.task === 'migrate_to') order(ws, ls, a);
    }
  }
}

/** A resource as placement sees it: a primitive, or the group or clone it belongs to. */
function unitOf(rsc: Rsc): Rsc | NonNullable<Rsc['group']> {
  return rsc.cloneOf ?? rsc.group ?? rsc;
}

/**
 * The order resources are assigned in when capacity matters (Pacemaker's sort of resources):
 * higher priority first, then the higher score on the current node, then the higher score on
 * each node in turn (nodes by name, or by free capacity for "balanced"). Ties keep their order.
 */
export function assignmentOrder(ws: WorkingSet, rscs: readonly Rsc[], available: (n: NodeInfo) => boolean,
  mergedScores: (rsc: Rsc) => Map<string, number>): Rsc[] {
  if (!utilizationMatters(ws)) return [...rscs];
  const units: { unit: ReturnType<typeof unitOf>; members: Rsc[] }[] = [];
  for (const r of rscs) {
    const u = unitOf(r);
    const found = units.find((x) => x.unit === u);
    if (found) found.members.push(r);
    else units.push({ unit: u, members: [r] });
  }
  // Nodes that cannot run resources count as -INFINITY and sort last.
  const weight = (n: NodeInfo): number => (available(n) ? n.baseScore : -INFINITY);
  const nodes = [...ws.nodes].sort((a, b) => {
    if (weight(a) !== weight(b)) return weight(b) - weight(a);
    if (ws.config.options.placementStrategy.toLowerCase() === 'balanced') {
      const c = compareCapacities(ws, a, b);
      if (c !== 0) return c;
    }
    return a.uname < b.uname ? -1 : a.uname > b.uname ? 1 : 0;
  });
  const merged = new Map<(typeof units)[number], Map<string, number>>();
  const scoresOf = (x: (typeof units)[number]): Map<string, number> => {
    let m = merged.get(x);
    if (!m) {
      m = 'def' in x.unit || x.unit.clone === undefined ? mergedScores(x.members[0]!) : x.unit.allowed;
      merged.set(x, m);
    }
    return m;
  };
  const currentScore = (x: (typeof units)[number]): number => {
    const cur = x.members[0]!.runningOn[0];
    return cur ? (scoresOf(x).get(cur.id) ?? -INFINITY) : -INFINITY;
  };
  return units.map((u, i) => ({ u, i })).sort((a, b) => {
    const pa = a.u.unit.priority, pb = b.u.unit.priority;
    if (pa !== pb) return pb - pa;
    const ca = currentScore(a.u), cb = currentScore(b.u);
    if (ca !== cb) return cb - ca;
    for (const n of nodes) {
      const sa = scoresOf(a.u).get(n.id) ?? -INFINITY, sb = scoresOf(b.u).get(n.id) ?? -INFINITY;
      if (sa !== sb) return sb - sa;
    }
    return a.i - b.i;
  }).flatMap((x) => x.u.members);
}
