// Assignment of a clone's group instances (Pacemaker's distribute_children for
// a clone of a group): instances that can stay where they run go first, and
// each instance is kept off nodes that cannot run resources or already hold
// clone-node-max instances before the group itself is assigned.
import { INFINITY, formatScore } from '../score.js';
import type { NodeInfo } from '../status/model.js';
import type { GroupRsc, Rsc, WorkingSet } from '../working-set.js';
import { nodeAvailable } from './assign.js';

/** Where a group instance is active: the node of its members, when they share one. */
export function instanceNode(g: GroupRsc): NodeInfo | undefined {
  const nodes = new Set(g.children.flatMap((c) => c.runningOn));
  return nodes.size === 1 ? [...nodes][0] : undefined;
}

/** Where a group instance has been assigned (its members follow the first). */
export function instanceAllocation(g: GroupRsc): NodeInfo | undefined {
  return g.children[0]?.allocatedTo;
}

/** Adds a score to an instance and all its members on one node (common_update_score). */
function updateScore(g: GroupRsc, nodeId: string, score: number): void {
  for (const m of [g.allowed, ...g.children.map((c) => c.allowed)]) {
    const cur = m.get(nodeId);
    if (cur !== undefined) m.set(nodeId, score <= -INFINITY ? -INFINITY : Math.max(-INFINITY, Math.min(INFINITY, cur + score)));
  }
}

/** A group instance beyond clone-max, made for history no configured instance could take. */
export function isOrphan(g: GroupRsc): boolean {
  return g.children.length > 0 && g.children.every((c) => c.orphan);
}

export function assignGroupInstances(ws: WorkingSet, cl: GroupRsc, assignGroup: (g: GroupRsc) => void): void {
  const instances = cl.instances ?? [];
  const line = (id: string, m: Map<string, number>): string[] => ws.nodes.filter((n) => m.has(n.id))
    .map((n) => `pcmk__clone_allocate: ${id} allocation score on ${n.uname}: ${formatScore(m.get(n.id)!)}`);
  // Orphan instances (beyond clone-max) are never assigned, so never shown.
  cl.assignScores = [...line(cl.id, cl.allowed), ...instances.filter((g) => !isOrphan(g))
    .flatMap((g) => [...line(g.id, g.allowed), ...g.children.flatMap((c) => line(c.id, c.allowed))])];
  const rank = (g: GroupRsc): number => {
    if (!g.children.some((c) => c.runningOn.length > 0)) return 2;
    const cur = instanceNode(g);
    const failed = g.children.some((c) => c.failed);
    return cur && !failed && nodeAvailable(cur) && (g.allowed.get(cur.id) ?? -1) >= 0 ? 0 : 1;
  };
  const ordered = [...instances].sort((a, b) => rank(a) - rank(b) || a.index - b.index);
  for (const g of ordered) {
    for (const n of ws.nodes) {
      if (!g.allowed.has(n.id) && !g.children.some((c) => c.allowed.has(n.id))) continue;
      const held = instances.filter((o) => o !== g && instanceAllocation(o) === n).length;
      if (isOrphan(g) || !nodeAvailable(n) || held >= cl.clone!.nodeMax) updateScore(g, n.id, -INFINITY);
      else {
        // A node the clone itself may not use is not usable by its instances.
        const parent = cl.allowed.get(n.id);
        if (parent !== undefined && parent < 0) updateScore(g, n.id, parent);
      }
    }
    assignGroup(g);
  }
}

/**
 * Pacemaker's pcmk__cmp_instance: the order in which a clone's instances are assigned (and, as a
 * last resort, promoted): less multiply active, not active on a disallowed node, higher priority,
 * active, on a node that can run resources and that the clone may use, not failed, lower number.
 */
export function compareInstances(cl: GroupRsc, a: Rsc, b: Rsc, priority: (r: Rsc) => number, colocationScore?: (r: Rsc) => number): number {
  const na = a.runningOn.length, nb = b.runningOn.length;
  if (na > 0 && nb > 0 && na !== nb) return na - nb;
  const allowedHere = (r: Rsc): NodeInfo | undefined => {
    const cur = r.runningOn[0];
    return cur && (r.allowed.get(cur.id) ?? -1) >= 0 ? cur : undefined;
  };
  const ca = allowedHere(a), cb = allowedHere(b);
  const okA = na === 0 || ca !== undefined, okB = nb === 0 || cb !== undefined;
  if (okA !== okB) return okA ? -1 : 1;
  const pa = priority(a), pb = priority(b);
  if (pa !== pb) return pb - pa;
  if (!ca && !cb) return 0;
  if (!ca) return 1;
  if (!cb) return -1;
  const runA = nodeAvailable(ca), runB = nodeAvailable(cb);
  if (runA !== runB) return runA ? -1 : 1;
  const parentA = cl.allowed.has(ca.id), parentB = cl.allowed.has(cb.id);
  if (!parentA && !parentB) return 0;
  if (parentA !== parentB) return parentA ? -1 : 1;
  if (a.failed !== b.failed) return a.failed ? 1 : -1;
  if (colocationScore) {
    // The clone's colocations scored on each instance's current node.
    const sa = colocationScore(a), sb = colocationScore(b);
    if (sa !== sb) return sb - sa;
  }
  return instanceNumber(a) - instanceNumber(b);
}

/** An instance's priority when assigned: a promotable instance's is raised to its best promotion score. */
export function instancePriority(r: Rsc): number {
  return r.promotionPriority !== undefined && r.promotionPriority > r.priority ? r.promotionPriority : r.priority;
}

function instanceNumber(r: Rsc): number {
  const m = /:(\d+)$/.exec(r.id);
  return m ? Number(m[1]) : 0;
}

export interface InstanceAssigner {
  /** Assigns one instance, preferring a node when it is at least as good as the best. */
  assign(rsc: Rsc, prefer?: NodeInfo): NodeInfo | undefined;
  /** Takes an assignment back (the instance is provisional again). */
  unassign(rsc: Rsc): void;
  /** An active instance's current node scored with its clone's colocations (cmp_instance_by_colocation). */
  colocationScore?(rsc: Rsc): number;
}

/**
 * Pacemaker's distribute_children for a clone of primitives: instances are first kept where
 * they run, at most clone-max / available-nodes per node, then the rest are assigned in order;
 * each one is banned from nodes that cannot run it, that the clone may not use, or that
 * already hold clone-node-max instances.
 */
export function distributeInstances(ws: WorkingSet, cl: GroupRsc, how: InstanceAssigner, printed: string[]): void {
  const info = cl.clone!;
  const children = [...cl.children].sort((a, b) => compareInstances(cl, a, b, instancePriority, how.colocationScore?.bind(how)));
  // Pacemaker keeps the clone's children in this order from now on.
  cl.instanceOrder = children;
  const available = ws.nodes.filter((n) => cl.allowed.has(n.id) && nodeAvailable(n)).length;
  const optimal = Math.max(1, available > 0 ? Math.floor(info.max / available) : 0);
  const count = new Map<string, number>();
  let allocated = 0;
  const canRun = (c: Rsc): void => {
    for (const n of ws.nodes) {
      const cur = c.allowed.get(n.id);
      if (cur === undefined) continue;
      const parent = cl.allowed.get(n.id);
      if (c.orphan || !nodeAvailable(n) || parent === undefined) c.allowed.set(n.id, -INFINITY);
      else if (parent < 0) c.allowed.set(n.id, parent <= -INFINITY ? -INFINITY : Math.max(-INFINITY, Math.min(INFINITY, cur + parent)));
      else if ((count.get(n.id) ?? 0) >= info.nodeMax) c.allowed.set(n.id, -INFINITY);
    }
  };
  const allocate = (c: Rsc, prefer?: NodeInfo): NodeInfo | undefined => {
    if (!c.provisional) return c.allocatedTo;
    if (prefer && (c.allowed.get(prefer.id) ?? -1) < 0) return undefined;
    canRun(c);
    const backup = new Map(c.allowed);
    const chosen = how.assign(c, prefer);
    if (chosen && prefer && chosen !== prefer) {
      // A better node elsewhere: not kept here; tried again with the others.
      printed.push(...ws.nodes.filter((n) => c.allowed.has(n.id))
        .map((n) => `pcmk__primitive_assign: ${c.id} allocation score on ${n.uname}: ${formatScore((c.printedScores ?? c.allowed).get(n.id)!)}`));
      c.allowed = backup;
      c.printedScores = undefined;
      how.unassign(c);
      return undefined;
    }
    if (chosen && cl.allowed.has(chosen.id)) count.set(chosen.id, (count.get(chosen.id) ?? 0) + 1);
    return chosen;
  };
  for (const c of children) {
    if (allocated >= info.max) break;
    const cur = c.runningOn[0];
    if (!cur || !c.provisional || c.failed || !nodeAvailable(cur)) continue;
    if (cl.allowed.has(cur.id) && (count.get(cur.id) ?? 0) >= optimal) continue;
    if (allocate(c, cur)) allocated++;
  }
  for (const c of children) {
    if (!c.provisional) continue;
    if (allocated >= info.max) {
      for (const n of ws.nodes) c.allowed.set(n.id, -INFINITY);
      continue;
    }
    if (allocate(c)) allocated++;
  }
}
