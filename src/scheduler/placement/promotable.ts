// Promotable clones: promotion scores and the choice of which instances are
// promoted (Pacemaker's pcmk__add_promotion_scores / pcmk__set_instance_roles).
import { INFINITY, addScores, formatScore, parseScore } from '../score.js';
import type { NodeInfo } from '../status/model.js';
import { effectiveNoQuorumPolicy, type GroupRsc, type Rsc, type WorkingSet } from '../working-set.js';
import type { Colocation } from './colocation.js';
import { evalRule, ruleScore } from './rules.js';
import { compareInstances } from './clone-instances.js';
import { ticketForbidsPromotion } from './tickets.js';

function nodeAvailable(n: NodeInfo): boolean {
  return n.online && !n.shutdown && !n.unclean && !n.standby && !n.maintenance;
}

function isAllowed(rsc: Rsc, node: NodeInfo): boolean {
  const w = rsc.allowed.get(node.id);
  return w !== undefined && w >= 0;
}

/** Whether an instance's promotion score counts on a node (promotion_score_applies). */
function promotionScoreApplies(cl: GroupRsc, rsc: Rsc, node: NodeInfo): boolean {
  if (!cl.clone!.unique) {
    const active = cl.children.find((c) => c.runningOn.includes(node));
    if (active === rsc) return isAllowed(rsc, node);
    // With no instance active there, a probe of any instance is enough.
    if (!active && cl.children.some((c) => c.knownOn.has(node.id))) return isAllowed(rsc, node);
  }
  // Nothing known anywhere (cluster start-up): every instance's score counts.
  if (rsc.runningOn.length === 0 && rsc.knownOn.size === 0) return isAllowed(rsc, node);
  if (rsc.knownOn.has(node.id) || rsc.runningOn.includes(node)) return isAllowed(rsc, node);
  return false;
}

/** The node attribute crm_attribute --promotion sets: master-<name>. */
function promotionAttr(node: NodeInfo, name: string): string | undefined {
  return node.attrs.get(`master-${name}`);
}

/** An instance's promotion score on a node; undefined when no score is set. */
export function promotionScore(cl: GroupRsc, rsc: Rsc, node: NodeInfo): number | undefined {
  if (!promotionScoreApplies(cl, rsc, node)) return 0;
  // The name the history was recorded under is the name the agent set the score for.
  let value = promotionAttr(node, rsc.cloneName ?? rsc.id);
  if (value === undefined && !cl.clone!.unique) {
    const base = cl.clone!.childId;
    if (base !== rsc.id) value = promotionAttr(node, base);
  }
  if (value === undefined) return undefined;
  return parseScore(value) ?? 0;
}

/** Before instances are placed: positive promotion scores raise their node scores. */
export function addPromotionScores(ws: WorkingSet, cl: GroupRsc): void {
  for (const c of cl.children) {
    let priority = c.promotionPriority ?? 0;
    for (const node of ws.nodes) {
      const w = c.allowed.get(node.id);
      if (w === undefined || !node.online || node.unclean || node.shutdown || node.standby || node.maintenance) continue;
      const score = promotionScore(cl, c, node) ?? 0;
      if (score > 0) {
        const nw = addScores(w, score);
        if (nw !== w) {
          c.allowed.set(node.id, nw);
          c.scoreLog.push({ node: node.uname, delta: score, why: 'promotion score' });
        }
      }
      if (score > priority) priority = score;
    }
    c.promotionPriority = priority;
  }
}

/** Scores of Promoted-role location constraints on the clone or on one instance (a primitive or a group) that apply on the node. */
function promotedLocationScores(ws: WorkingSet, cl: GroupRsc, instance: Rsc | GroupRsc, node: NodeInfo): number[] {
  const out: number[] = [];
  for (const loc of ws.config.locations) {
    if (loc.rsc !== cl.id && loc.rsc !== instance.id) continue;
    if (loc.node !== undefined) {
      if (loc.role !== 'Promoted' || loc.score === undefined) continue;
      if (loc.node === node.uname || loc.node === node.id) out.push(loc.score);
      continue;
    }
    for (const rule of loc.rules) {
      if ((rule.role ?? loc.role) !== 'Promoted') continue;
      if (!evalRule(rule, node.attrs, ws.now)) continue;
      const s = ruleScore(rule, node.attrs);
      if (s !== undefined) out.push(s);
    }
  }
  return out;
}

export interface RoleContext {
  /** Colocations where the instance (or its clone) is the dependent. */
  readonly thisWith: (rsc: Rsc) => readonly Colocation[];
  /** Colocations where the clone is the primary. */
  readonly withThis: (cl: GroupRsc) => readonly Colocation[];
}

/** Chooses the instances to promote, sets every instance's next role, and records the promotion scores. */
export function setInstanceRoles(ws: WorkingSet, cl: GroupRsc, ctx: RoleContext): void {
  const info = cl.clone!;
  const priority = new Map<Rsc, number>();
  const sortIndex = new Map<Rsc, number>();
  for (const c of cl.children) {
    if (c.role === 'Started') c.role = 'Unpromoted';
    sortIndex.set(c, 0);
    priority.set(c, c.promotionPriority ?? 0);
    const chosen = c.allocatedTo;
    if (!chosen) continue;
    let p: number;
    switch (c.nextRole) {
      case 'Started': case 'Unknown': {
        const s = promotionScore(cl, c, chosen);
        p = s === undefined ? -1 : s;
        break;
      }
      case 'Unpromoted': case 'Stopped': p = -INFINITY; break;
      default: p = priority.get(c)!;
    }
    for (const s of promotedLocationScores(ws, cl, c, chosen)) p = addScores(p, s);
    // Role-limited colocations of the instance with other resources.
    for (const col of ctx.thisWith(c)) p = applyColocToPriority(c, chosen, col, p);
    priority.set(c, p);
    sortIndex.set(c, c.nextRole === 'Promoted' ? INFINITY : p);
  }

  // Instances' priorities add up per node, together with the clone's own node scores.
  const nodeScore = new Map<string, number>(cl.allowed);
  for (const c of cl.children) {
    const si = sortIndex.get(c)!;
    if (si < 0 || !c.allocatedTo) continue;
    nodeScore.set(c.allocatedTo.id, addScores(si, nodeScore.get(c.allocatedTo.id) ?? 0));
  }
  // A Promoted-role ticket that is revoked or in standby rules out promotion anywhere.
  if (ticketForbidsPromotion(ws, cl.id)) for (const id of nodeScore.keys()) nodeScore.set(id, -INFINITY);
  const seen = new Set<string>();
  for (const col of ctx.thisWith(cl.children[0]!)) {
    if (col.dependentRole !== 'Promoted' || seen.has(col.id)) continue;
    seen.add(col.id);
    addPrimaryScores(ws, col, nodeScore);
  }
  for (const col of ctx.withThis(cl)) applyColocToClone(ws, col, nodeScore);
  for (const c of cl.children) {
    if (!c.managed && c.nextRole === 'Promoted') sortIndex.set(c, INFINITY);
    else if (c.allocatedTo && sortIndex.get(c)! >= 0) sortIndex.set(c, nodeScore.get(c.allocatedTo.id) ?? 0);
  }

  // Ties keep the assignment order, then Pacemaker's instance comparison with the role priorities.
  const order = [...(cl.instanceOrder ?? cl.children)].sort((a, b) => {
    const d = sortIndex.get(b)! - sortIndex.get(a)!;
    if (d !== 0) return d;
    const r = roleRank(b.role) - roleRank(a.role);
    if (r !== 0) return r;
    return compareInstances(cl, a, b, (x) => priority.get(x) ?? x.priority);
  });
  cl.promotionOrder = order;

  const promotedOn = new Map<string, number>();
  let promoted = 0;
  const lines: string[] = [];
  for (const c of order) {
    const si = sortIndex.get(c)!;
    lines.push(`${c.id} promotion score on ${c.allocatedTo ? c.allocatedTo.uname : 'none'}: ${formatScore(si)}`);
    let chosen: NodeInfo | undefined;
    if (si >= 0 && (promoted < info.promotedMax || !c.managed)) chosen = nodeToPromoteOn(cl, c, priority.get(c)!, promotedOn);
    if (!chosen) {
      c.nextRole = c.allocatedTo ? 'Unpromoted' : 'Stopped';
      continue;
    }
    if (c.role !== 'Promoted' && !ws.haveQuorum && effectiveNoQuorumPolicy(ws) === 'freeze') {
      c.nextRole = c.allocatedTo ? 'Unpromoted' : 'Stopped';
      continue;
    }
    promotedOn.set(chosen.id, (promotedOn.get(chosen.id) ?? 0) + 1);
    if (c.nextRole === 'Unknown' || c.nextRole === 'Started') c.nextRole = 'Promoted';
    promoted++;
  }
  cl.promotionScores = lines;
}

function nodeToPromoteOn(cl: GroupRsc, c: Rsc, priority: number, promotedOn: Map<string, number>): NodeInfo | undefined {
  const node = c.allocatedTo;
  if (!node) return undefined;
  if (!c.managed) {
    if (c.role !== 'Promoted') return undefined;
  } else if (priority < 0) {
    return undefined;
  } else if (!nodeAvailable(node)) {
    return undefined;
  }
  if (!cl.allowed.has(node.id)) return undefined;
  if ((promotedOn.get(node.id) ?? 0) >= cl.clone!.promotedNodeMax && c.managed) return undefined;
  return node;
}

/** A role-limited colocation of a placed instance changes its promotion priority (pcmk__apply_coloc_to_priority). */
function applyColocToPriority(c: Rsc, chosen: NodeInfo, col: Colocation, p: number): number {
  if (col.dependentRole !== 'Promoted' && col.dependentRole !== 'Unpromoted') return p;
  const attr = col.nodeAttribute;
  const cl = col.primaryClone;
  if (cl && cl.clone!.promotable && col.primaryRole !== undefined) {
    // An instance of the primary in the right role where this one will be.
    const match = cl.children.some((i) => i.allocatedTo !== undefined && i.nextRole === col.primaryRole &&
      i.allocatedTo.attrs.get(attr) === chosen.attrs.get(attr));
    if (match) return addScores(p, col.score);
    return col.score >= INFINITY ? -INFINITY : p;
  }
  // A mandatory colocation with a clone only limits where the dependent may run, not its priority.
  if (cl && col.score >= INFINITY) return p;
  const primaries = cl ? cl.children : [col.primary];
  for (const pri of primaries) {
    const where = pri.allocatedTo;
    if (!where) continue;
    if (where.attrs.get(attr) !== chosen.attrs.get(attr)) {
      if (col.score >= INFINITY && col.dependentRole === 'Promoted') p = -INFINITY;
      continue;
    }
    if (col.primaryRole !== undefined && col.primaryRole !== pri.nextRole) continue;
    p = addScores(col.dependentRole === 'Unpromoted' ? -col.score : col.score, p);
  }
  return p;
}

/** Placement of a dependent colocated with a clone (Pacemaker's clone apply_coloc_score for a placed clone). */
export function applyCloneColocScore(ws: WorkingSet, dep: Rsc, col: Colocation): void {
  const cl = col.primaryClone!;
  if (col.dependentRole !== undefined && col.dependentRole !== dep.nextRole) return;
  const attr = col.nodeAttribute;
  const matching = (n: NodeInfo, where: NodeInfo): boolean => n.attrs.get(attr) === where.attrs.get(attr);
  if (cl.clone!.promotable && col.primaryRole !== undefined) {
    const affected: { node: NodeInfo; score: number }[] = [];
    for (const inst of cl.children) {
      const where = inst.allocatedTo;
      if (!where || inst.nextRole !== col.primaryRole) continue;
      if (col.score < INFINITY) {
        for (const [id, w] of dep.allowed) {
          const n = ws.nodes.find((x) => x.id === id)!;
          if (matching(n, where)) dep.allowed.set(id, addScores(w, col.score));
        }
      }
      affected.push({ node: where, score: inst.allowed.get(where.id) ?? 0 });
    }
    // A mandatory colocation keeps the dependent to those nodes (not promoted-with-promoted:
    // inactive dependent instances must still be able to start unpromoted).
    if (col.score >= INFINITY && !(col.dependentRole === 'Promoted' && col.primaryRole === 'Promoted')) {
      for (const [id, w] of dep.allowed) {
        const hit = affected.find((a) => a.node.id === id);
        dep.allowed.set(id, hit ? addScores(w, hit.score) : -INFINITY);
      }
    }
    return;
  }
  if (col.score >= INFINITY) {
    const nodes = cl.children.filter((i) => i.allocatedTo && !i.blocked).map((i) => i.allocatedTo!);
    for (const [id] of dep.allowed) {
      if (!nodes.some((n) => n.id === id)) dep.allowed.set(id, -INFINITY);
    }
    return;
  }
  for (const inst of cl.children) {
    const where = inst.allocatedTo;
    if (!where) continue;
    for (const [id, w] of dep.allowed) {
      const n = ws.nodes.find((x) => x.id === id)!;
      if (matching(n, where)) dep.allowed.set(id, addScores(w, col.score));
    }
  }
}

/** A colocation with the clone's promoted role: the dependent's placement counts where instances are promoted. */
function applyColocToClone(ws: WorkingSet, col: Colocation, nodeScore: Map<string, number>): void {
  if (col.primaryRole !== 'Promoted' || !col.influence) return;
  const dep = col.dependent;
  const factor = Math.fround(col.score / INFINITY);
  const work = new Map(nodeScore);
  const unusable = new Set<string>();
  for (const [id, w] of work) {
    const n = ws.nodes.find((x) => x.id === id)!;
    const attr = col.nodeAttribute;
    let best = -INFINITY;
    for (const [did, dw] of dep.allowed) {
      const dn = ws.nodes.find((x) => x.id === did)!;
      if (dn.attrs.get(attr) === n.attrs.get(attr) && nodeAvailable(dn) && dw > best) best = dw;
    }
    if (factor < 0 && best < 0) continue;
    const wf = Math.fround(factor * best);
    let weight = Math.trunc(wf < 0 ? wf - 0.5 : wf + 0.5);
    if (weight === 0 && best !== 0) weight = factor > 0 ? 1 : factor < 0 ? -1 : 0;
    const next = addScores(w, weight);
    // Only non-negative results count: a positive node the dependent avoids becomes barely usable.
    if (next < 0 && w > 0) unusable.add(id);
    else if (next < 0 && w === 0) continue;
    else work.set(id, next);
  }
  // If that leaves no usable node, the dependent's preferences are rolled back.
  const usable = [...work].some(([id, w]) => !unusable.has(id) && w >= 0 && nodeAvailable(ws.nodes.find((x) => x.id === id)!));
  if (!usable) return;
  for (const [id, w] of work) nodeScore.set(id, unusable.has(id) ? 1 : w);
}

/** A colocation of the clone's promoted role with a primary: the primary's node scores count for promotion. */
function addPrimaryScores(ws: WorkingSet, col: Colocation, nodeScore: Map<string, number>): void {
  const factor = Math.fround(col.score / INFINITY);
  const primaries = col.primaryClone ? [] : [col.primary];
  const attr = col.nodeAttribute;
  const work = new Map(nodeScore);
  for (const [id, w] of work) {
    const n = ws.nodes.find((x) => x.id === id)!;
    let best = -INFINITY;
    for (const pri of primaries) {
      for (const [pid, pw] of pri.allowed) {
        const pn = ws.nodes.find((x) => x.id === pid)!;
        if (pn.attrs.get(attr) === n.attrs.get(attr) && nodeAvailable(pn) && pw > best) best = pw;
      }
    }
    if (primaries.length === 0) continue;
    if (factor < 0 && best < 0) continue;
    const wf = Math.fround(factor * best);
    let weight = Math.trunc(wf < 0 ? wf - 0.5 : wf + 0.5);
    if (weight === 0 && best !== 0) weight = factor > 0 ? 1 : factor < 0 ? -1 : 0;
    work.set(id, addScores(weight, w));
  }
  // An optional colocation only counts if some node stays usable.
  const usable = [...work].some(([id, w]) => w >= 0 && nodeAvailable(ws.nodes.find((x) => x.id === id)!));
  if (col.score >= INFINITY || usable) for (const [k, v] of work) nodeScore.set(k, v);
}

function roleRank(r: string): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

/** Before group instances are placed: a group's positive promotion score (its members' sum) raises its node score. */
export function addGroupPromotionScores(ws: WorkingSet, cl: GroupRsc): void {
  for (const g of cl.instances ?? []) {
    for (const node of ws.nodes) {
      const w = g.allowed.get(node.id);
      if (w === undefined || !nodeAvailable(node)) continue;
      const score = g.children.reduce((sum, c) => addScores(sum, promotionScore(cl, c, node) ?? 0), 0);
      if (score > 0) g.allowed.set(node.id, addScores(w, score));
    }
  }
}

/**
 * Roles of a promotable clone's group instances (pcmk__set_instance_roles with groups as
 * instances): a group's promotion score is the sum of its members' (-1 when none is set),
 * plus role-limited locations on the clone or the group; the chosen groups' members are promoted.
 */
export function setGroupInstanceRoles(ws: WorkingSet, cl: GroupRsc): void {
  const info = cl.clone!;
  const instances = cl.instances ?? [];
  const roleOf = (g: GroupRsc, next: boolean): string => g.children.reduce((best, c) => {
    const r = next ? c.nextRole : c.role;
    return roleRank(r) > roleRank(best) ? r : best;
  }, 'Unknown');
  const sortIndex = new Map<GroupRsc, number>();
  const priority = new Map<GroupRsc, number>();
  for (const g of instances) {
    for (const c of g.children) if (c.role === 'Started') c.role = 'Unpromoted';
    sortIndex.set(g, 0);
    priority.set(g, 0);
    const chosen = g.children[0]?.allocatedTo;
    if (!chosen) continue;
    const next = roleOf(g, true);
    let p: number;
    if (next === 'Started' || next === 'Unknown') {
      const scores = g.children.map((c) => promotionScore(cl, c, chosen));
      p = scores.every((x) => x === undefined) ? -1 : scores.reduce<number>((sum, x) => addScores(sum, x ?? 0), 0);
    } else if (next === 'Promoted') p = 0;
    else p = -INFINITY;
    for (const s of promotedLocationScores(ws, cl, g, chosen)) p = addScores(p, s);
    priority.set(g, p);
    sortIndex.set(g, next === 'Promoted' ? INFINITY : p);
  }
  const nodeScore = new Map<string, number>(cl.allowed);
  for (const g of instances) {
    const si = sortIndex.get(g)!;
    const at = g.children[0]?.allocatedTo;
    if (si < 0 || !at) continue;
    nodeScore.set(at.id, addScores(si, nodeScore.get(at.id) ?? 0));
  }
  for (const g of instances) {
    const at = g.children[0]?.allocatedTo;
    if (at && sortIndex.get(g)! >= 0) sortIndex.set(g, nodeScore.get(at.id) ?? 0);
  }
  const order = [...instances].sort((a, b) => (sortIndex.get(b)! - sortIndex.get(a)!) ||
    (roleRank(roleOf(b, false)) - roleRank(roleOf(a, false))) || a.index - b.index);
  const lines: string[] = [];
  const promotedOn = new Map<string, number>();
  let promoted = 0;
  for (const g of order) {
    const at = g.children[0]?.allocatedTo;
    const si = sortIndex.get(g)!;
    lines.push(`${g.id} promotion score on ${at ? at.uname : 'none'}: ${formatScore(si)}`);
    const managed = g.children.every((c) => c.managed);
    let ok = at !== undefined && si >= 0 && promoted < info.promotedMax;
    if (ok && managed && (priority.get(g)! < 0 || !nodeAvailable(at!))) ok = false;
    if (ok && !managed && roleOf(g, false) !== 'Promoted') ok = false;
    if (ok && !cl.allowed.has(at!.id)) ok = false;
    if (ok && managed && (promotedOn.get(at!.id) ?? 0) >= info.promotedNodeMax) ok = false;
    for (const c of g.children) {
      if (ok) c.nextRole = 'Promoted';
      else if (c.nextRole === 'Unknown' || c.nextRole === 'Started' || c.nextRole === 'Promoted') c.nextRole = c.allocatedTo ? 'Unpromoted' : 'Stopped';
    }
    if (!ok) continue;
    promotedOn.set(at!.id, (promotedOn.get(at!.id) ?? 0) + 1);
    promoted++;
  }
  cl.promotionScores = lines;
}

export { INFINITY };
