// Node scores and assignment of primitives (Pacemaker's pcmk__primitive_assign).
import { failCountBeingCleared } from '../digest/rsc-digest.js';
import { INFINITY, addScores, formatScore } from '../score.js';
import type { NodeInfo } from '../status/model.js';
import { failCount } from '../status/unpack.js';
import { effectiveNoQuorumPolicy, type GroupRsc, type Rsc, type WorkingSet } from '../working-set.js';
import type { Colocation } from './colocation.js';
import { assignGroupInstances, distributeInstances, isOrphan } from './clone-instances.js';
import { evalRule, ruleScore } from './rules.js';
import { healthLocations } from './health.js';
import { addGroupPromotionScores, addPromotionScores, applyCloneColocScore, setGroupInstanceRoles, setInstanceRoles } from './promotable.js';
import { assignmentOrder, banInsufficientCapacity, compareCapacities, consumeCapacity, releaseCapacity } from './utilization.js';

export function nodeAvailable(n: NodeInfo): boolean {
  return n.online && !n.shutdown && !n.unclean && !n.standby && !n.maintenance;
}

export function addLocation(ws: WorkingSet, rsc: Rsc, node: NodeInfo | undefined, score: number, why = ''): void {
  const targets = node ? [node] : ws.nodes;
  for (const n of targets) {
    if (why) rsc.scoreLog.push({ node: n.uname, delta: score, why });
    const cur = rsc.allowed.get(n.id);
    rsc.allowed.set(n.id, cur === undefined ? addScores(n.baseScore, score) : addScores(cur, score));
  }
}

function applyLocations(ws: WorkingSet): void {
  const byUname = new Map(ws.nodes.map((n) => [n.uname, n]));
  // Node health is applied as location constraints created before the configured ones.
  for (const loc of [...healthLocations(ws), ...ws.config.locations]) {
    let targets: Rsc[] = [];
    if (loc.rsc !== undefined) targets = ws.rscs.filter((r) => r.id === loc.rsc || r.group?.id === loc.rsc || r.cloneOf?.id === loc.rsc);
    else if (loc.rscPattern !== undefined) {
      let re: RegExp | undefined;
      try { re = new RegExp(loc.rscPattern); } catch { re = undefined; }
      if (re) targets = ws.rscs.filter((r) => re!.test(r.id));
    } else if (loc.resourceSets.length > 0) {
      const ids = new Set(loc.resourceSets.flatMap((s) => s.resources));
      targets = ws.rscs.filter((r) => ids.has(r.id));
    }
    const clone = loc.rsc !== undefined ? ws.clones.find((c) => c.id === loc.rsc) : undefined;
    if (clone) applyOne(ws, loc, clone.allowed, undefined, 'Unknown', false);
    // A cloned group's instances are resources of their own that the location reaches too.
    for (const g of clone?.instances ?? []) applyOne(ws, loc, g.allowed, undefined, 'Unknown', false);
    const group = loc.rsc !== undefined ? ws.groups.find((g) => g.id === loc.rsc) : undefined;
    if (group) {
      // The group itself, its first member fully, later members only the bans.
      applyOne(ws, loc, group.allowed, undefined, 'Unknown', false);
      group.children.forEach((c, i) => applyOne(ws, loc, c.allowed, c, c.nextRole, i > 0));
      continue;
    }
    for (const rsc of targets) {
      if (loc.role !== undefined && loc.role !== 'Started' && loc.role !== rsc.nextRole) continue;
      // A cloned group's later members get the location with scores reset to 0: the first
      // member's scores already carry it (pcmk__group_apply_location).
      const reset = rsc.group?.cloneOf !== undefined && rsc.group.cloneOf.id === loc.rsc && rsc.group.children[0] !== rsc;
      if (loc.node !== undefined) {
        const n = byUname.get(loc.node) ?? ws.nodes.find((x) => x.id === loc.node);
        if (n && loc.score !== undefined) addLocationScore(rsc, n, reset ? 0 : loc.score, loc.origin ?? `location constraint ${loc.id}`);
        continue;
      }
      for (const rule of loc.rules) {
        if (rule.role !== undefined && rule.role !== 'Started' && rule.role !== rsc.nextRole) continue;
        for (const n of ws.nodes) {
          if (!evalRule(rule, n.attrs, ws.now)) continue;
          const s = ruleScore(rule, n.attrs);
          if (s === undefined) continue;
          addLocationScore(rsc, n, reset ? 0 : s, `rule ${rule.id} of location constraint ${loc.id}`);
        }
      }
    }
  }
}

function applyOne(ws: WorkingSet, loc: WorkingSet['config']['locations'][number], allowed: Map<string, number>, rsc: Rsc | undefined,
  nextRole: string, bansOnly: boolean): void {
  if (loc.role !== undefined && loc.role !== 'Started' && loc.role !== nextRole) return;
  const add = (n: NodeInfo, score0: number, why: string): void => {
    const score = bansOnly && score0 >= 0 ? 0 : score0;
    if (rsc) rsc.scoreLog.push({ node: n.uname, delta: score, why });
    const cur = allowed.get(n.id);
    allowed.set(n.id, cur === undefined ? score : addScores(cur, score));
  };
  if (loc.node !== undefined) {
    const n = ws.nodes.find((x) => x.uname === loc.node) ?? ws.nodes.find((x) => x.id === loc.node);
    if (n && loc.score !== undefined) add(n, loc.score, loc.origin ?? `location constraint ${loc.id} on the group`);
    return;
  }
  for (const rule of loc.rules) {
    if (rule.role !== undefined && rule.role !== 'Started' && rule.role !== nextRole) continue;
    for (const n of ws.nodes) {
      if (!evalRule(rule, n.attrs, ws.now)) continue;
      const sc = ruleScore(rule, n.attrs);
      if (sc !== undefined) add(n, sc, `rule ${rule.id} of location constraint ${loc.id} on the group`);
    }
  }
}

function addLocationScore(rsc: Rsc, n: NodeInfo, score: number, why: string): void {
  rsc.scoreLog.push({ node: n.uname, delta: score, why });
  const cur = rsc.allowed.get(n.id);
  rsc.allowed.set(n.id, cur === undefined ? score : addScores(cur, score));
}

/** Everything before assignment: defaults, locations, stickiness, fail-count bans. */
export function applyNodeCriteria(ws: WorkingSet): void {
  if (ws.config.options.symmetricCluster) {
    for (const g of [...ws.groups, ...ws.clones]) for (const n of ws.nodes) g.allowed.set(n.id, n.baseScore);
  }
  for (const rsc of ws.rscs) {
    if (ws.config.options.symmetricCluster) addLocation(ws, rsc, undefined, 0, 'symmetric cluster (node base score)');
    for (const b of rsc.bans) addLocation(ws, rsc, b.nodeId ? ws.nodes.find((n) => n.id === b.nodeId) : undefined, b.score, b.why);
  }
  for (const cl of ws.clones) {
    for (const b of cl.bans ?? []) {
      for (const node of ws.nodes.filter((n) => b.nodeId === undefined || n.id === b.nodeId)) {
        for (const m of [cl.allowed, ...(cl.instances ?? []).map((g) => g.allowed)]) m.set(node.id, addScores(m.get(node.id) ?? node.baseScore, b.score));
        for (const c of cl.children) addLocation(ws, c, node, b.score, b.why);
      }
    }
  }
  applyLocations(ws);
  for (const rsc of ws.rscs) {
    if (!rsc.managed || rsc.stickiness < 1 || rsc.runningOn.length !== 1) continue;
    const node = rsc.runningOn[0]!;
    if (!ws.config.options.symmetricCluster && !rsc.allowed.has(node.id)) continue;
    addLocation(ws, rsc, node, rsc.stickiness, 'resource-stickiness on its current node');
  }
  for (const node of ws.nodes) {
    for (const rsc of ws.rscs) {
      if (rsc.migrationThreshold === 0 || rsc.failureIgnored || failCountBeingCleared(rsc, node)) continue;
      const fc = failCount(ws, rsc, node, true);
      if (fc <= 0) continue;
      if (rsc.migrationThreshold - fc > 0) continue;
      const why = `fail count ${fc} reached migration-threshold ${rsc.migrationThreshold}`;
      const cl = rsc.cloneOf;
      if (cl && !cl.clone!.unique) {
        // An anonymous instance's failures keep the whole clone away from the node.
        cl.allowed.set(node.id, -INFINITY);
        for (const g of cl.instances ?? []) g.allowed.set(node.id, -INFINITY);
        for (const c of cl.children) addLocation(ws, c, node, -INFINITY, why);
      } else addLocation(ws, rsc, node, -INFINITY, why);
    }
  }
}

function anyAvailable(ws: WorkingSet, scores: Map<string, number>): boolean {
  for (const [id, s] of scores) {
    const n = ws.nodes.find((x) => x.id === id)!;
    if (s >= 0 && nodeAvailable(n)) return true;
  }
  return false;
}

export class Assigner {
  private readonly thisWith = new Map<Rsc, Colocation[]>();
  private readonly withThis = new Map<Rsc, Colocation[]>();

  constructor(private readonly ws: WorkingSet, colocations: Colocation[]) {
    for (const c of colocations) {
      insertSorted(this.thisWith, c.dependent, c, (x) => x.primary);
      insertSorted(this.withThis, c.primary, c, (x) => x.dependent);
    }
  }

  assignAll(): void {
    const ws = this.ws;
    if (ws.config.options.stonithEnabled && !ws.haveStonithResource) {
      for (const r of ws.rscs) r.managed = false;
    }
    // Pacemaker re-sorts its resource list itself, so transition and graph follow the new order.
    const ordered = assignmentOrder(ws, ws.rscs, nodeAvailable, (r) => this.forwardScores(r));
    (ws.rscs as Rsc[]).splice(0, ws.rscs.length, ...ordered);
    for (const r of ws.rscs) this.assign(r);
  }

  assign(rsc: Rsc, prefer?: NodeInfo): NodeInfo | undefined {
    const ws = this.ws;
    const cl = rsc.cloneOf;
    if (cl?.instances && !cl.assignScores) {
      // A clone of a group: its instances are whole groups.
      if (cl.clone!.promotable) addGroupPromotionScores(ws, cl);
      assignGroupInstances(ws, cl, (inst) => { if (inst.children[0]) this.assign(inst.children[0]); });
      if (cl.clone!.promotable) setGroupInstanceRoles(ws, cl);
    }
    const g = rsc.group;
    if (g && !g.assignScores) {
      // A group is assigned member by member, starting with the first.
      const line = (id: string, m: Map<string, number>): string[] => ws.nodes.filter((n) => m.has(n.id))
        .map((n) => `pcmk__group_assign: ${id} allocation score on ${n.uname}: ${formatScore(m.get(n.id)!)}`);
      g.assignScores = isOrphan(g) ? [] : [...line(g.id, g.allowed), ...g.children.flatMap((c) => line(c.id, c.allowed))];
      for (const c of g.children) this.assign(c);
    }
    if (cl && !cl.assignScores) {
      if (cl.clone!.promotable) addPromotionScores(ws, cl);
      this.addCloneDependentScores(cl);
      const line = (id: string, m: Map<string, number>): string[] => ws.nodes.filter((n) => m.has(n.id))
        .map((n) => `pcmk__clone_allocate: ${id} allocation score on ${n.uname}: ${formatScore(m.get(n.id)!)}`);
      // Orphan instances (beyond clone-max) are never assigned, so never shown.
      cl.assignScores = [...line(cl.id, cl.allowed), ...cl.children.filter((c) => !c.orphan).flatMap((c) => line(c.id, c.allowed))];
      if (cl.instances) {
        // Cloned groups were assigned above, instance by instance.
      } else {
        distributeInstances(ws, cl, {
          assign: (c, prefer) => this.assign(c, prefer), unassign: (c) => this.unassign(c),
          colocationScore: (c) => this.instanceColocationScore(cl, c),
        }, cl.assignScores);
      }
      if (cl.clone!.promotable) {
        setInstanceRoles(ws, cl, {
          thisWith: (r) => this.thisWith.get(r) ?? [],
          withThis: (x) => (this.withThis.get(x.children[0]!) ?? []).filter((c) => c.primaryClone === x),
        });
      }
    }
    if (!rsc.provisional) return rsc.allocatedTo;
    if (rsc.assigning) return undefined;
    rsc.assigning = true;
    const tw = this.thisWith.get(rsc) ?? [];
    const wt = this.withThis.get(rsc) ?? [];
    const mandatory = (c: Colocation): boolean => c.score <= -INFINITY || c.score >= INFINITY;
    for (const c of tw) if (mandatory(c)) this.applyThisWith(c, rsc);
    for (const c of tw) if (!mandatory(c)) this.applyThisWith(c, rsc);
    for (const c of wt) this.addDependentScores(c, rsc);

    if (rsc.nextRole === 'Stopped') {
      addLocation(ws, rsc, undefined, -INFINITY, 'target-role is Stopped');
    } else if (rankOf(rsc.nextRole) > rankOf(rsc.role) && !ws.haveQuorum && effectiveNoQuorumPolicy(ws) === 'freeze') {
      rsc.nextRole = rsc.role;
    }

    if (!rsc.managed) {
      rsc.nextRole = rsc.role;
      this.finalize(rsc, rsc.runningOn[0], true);
    } else if (ws.config.options.stopAllResources) {
      this.finalize(rsc, undefined, true);
    } else if (rsc.provisional) {
      this.assignBest(rsc, prefer);
    }
    rsc.assigning = false;
    return rsc.allocatedTo;
  }

  /**
   * Pacemaker's cmp_instance_by_colocation score: an instance's current node, with the scores of
   * the clone's primaries and (non-negative) dependents on that node added by colocation factor.
   */
  instanceColocationScore(cl: GroupRsc, r: Rsc): number {
    const node = r.runningOn[0];
    if (!node) return 0;
    let work = new Map<string, number>([[node.id, node.baseScore]]);
    const seen = new Set<string>();
    for (const c of this.thisWith.get(r) ?? []) {
      if (c.primaryClone || seen.has(c.id)) continue;
      seen.add(c.id);
      work = this.mergeScores(c.primary, work, c.nodeAttribute, Math.fround(c.score / INFINITY), false) ?? work;
    }
    for (const c of this.withThis.get(cl.children[0]!) ?? []) {
      if (c.primaryClone !== cl || seen.has(c.id) || c.dependent.cloneOf === cl || !c.influence) continue;
      seen.add(c.id);
      const dep = c.dependent.cloneOf;
      // Only where the node stays non-negative (a dependent banned there leaves it barely usable).
      work = this.mergeScores(dep ? dep.children[0]! : c.dependent, work, c.nodeAttribute, Math.fround(c.score / INFINITY), false, true, dep?.allowed) ?? work;
    }
    return work.get(node.id) ?? 0;
  }

  private applyThisWith(c: Colocation, rsc: Rsc): void {
    const archive = (c.score < 0 && c.score > -INFINITY) || c.dependentRole === 'Promoted' ? new Map(rsc.allowed) : undefined;
    this.assign(c.primary);
    const before = new Map(rsc.allowed);
    this.applyColocScore(rsc, c.primary, c);
    this.logDiff(rsc, before, `colocation ${c.id} with ${c.primary.id} (score ${c.score})`);
    if (archive && !anyAvailable(this.ws, rsc.allowed)) rsc.allowed = archive;
  }

  private applyColocScore(dep: Rsc, pri: Rsc, c: Colocation): void {
    if (pri.provisional) return;
    if (!dep.provisional) return;
    if (c.primaryClone) {
      applyCloneColocScore(this.ws, dep, c);
      return;
    }
    if (c.dependentRole !== undefined && c.dependentRole !== dep.nextRole) return;
    if (c.primaryRole !== undefined && c.primaryRole !== pri.nextRole) return;
    const attr = c.nodeAttribute;
    let value: string | undefined;
    if (pri.allocatedTo) value = pri.allocatedTo.attrs.get(attr);
    else if (c.score < 0) return;
    const work = new Map(dep.allowed);
    for (const [id, w] of work) {
      const n = this.ws.nodes.find((x) => x.id === id)!;
      if (!pri.allocatedTo) work.set(id, addScores(-c.score, w));
      else if (n.attrs.get(attr) === value) {
        if (c.score < INFINITY) work.set(id, addScores(c.score, w));
      } else if (c.score >= INFINITY) work.set(id, addScores(-c.score, w));
    }
    if (c.score <= -INFINITY || c.score >= INFINITY || anyAvailable(this.ws, work)) dep.allowed = work;
  }

  private addDependentScores(c: Colocation, rsc: Rsc): void {
    // A clone's dependents count towards its promotions, not its first instance's placement.
    if (c.primaryClone) return;
    if (!(c.influence || c.primary.runningOn.length === 0)) return;
    const factor = Math.fround(c.score / INFINITY);
    const res = this.mergeScores(c.dependent, rsc.allowed, c.nodeAttribute, factor, true);
    if (res) {
      const before = rsc.allowed;
      rsc.allowed = res;
      this.logDiff(rsc, before, `preferences of ${c.dependent.id}, colocated with it by ${c.id}`);
    }
  }

  private logDiff(rsc: Rsc, before: Map<string, number>, why: string): void {
    for (const [id, w] of rsc.allowed) {
      const old = before.get(id);
      if (old === w) continue;
      const n = this.ws.nodes.find((x) => x.id === id)!;
      rsc.scoreLog.push({ node: n.uname, delta: old === undefined ? w : w - old, why });
    }
  }

  /**
   * Pacemaker's add_colocated_node_scores for a primitive, following "with this" chains. With
   * onlyPositive (a clone's dependents), a node is never made negative by them: one that was
   * positive ends at 1.
   */
  private mergeScores(rsc: Rsc, nodes: Map<string, number>, attr: string, factor: number, active: boolean,
    onlyPositive = false, scoresOf?: Map<string, number>): Map<string, number> | undefined {
    if (rsc.merging) return undefined;
    rsc.merging = true;
    const work = new Map(nodes);
    for (const [id, w] of work) {
      const n = this.ws.nodes.find((x) => x.id === id)!;
      const score = this.bestScoreMatching(rsc, attr, n.attrs.get(attr), scoresOf);
      if (factor < 0 && score < 0) continue;
      if (w === UNUSABLE) continue;
      const next = addScores(colocatedWeight(factor, score), w);
      if (onlyPositive && next < 0 && w > 0) work.set(id, UNUSABLE);
      else if (onlyPositive && next < 0 && w === 0) continue;
      else work.set(id, next);
    }
    if (anyAvailable(this.ws, work)) {
      // A dependent clone's own dependents are not followed here.
      for (const c of scoresOf ? [] : this.withThis.get(rsc) ?? []) {
        if (c.primaryClone) continue;
        if (!(c.influence || c.primary.runningOn.length === 0)) continue;
        const other = Math.fround(factor * Math.fround(c.score / INFINITY));
        const r = this.mergeScores(c.dependent, work, c.nodeAttribute, other, true, onlyPositive);
        if (r) for (const [k, v] of r) work.set(k, v);
      }
    } else if (active) {
      rsc.merging = false;
      return undefined;
    }
    if (onlyPositive) for (const [k, v] of work) if (v === UNUSABLE) work.set(k, 1);
    rsc.merging = false;
    return work;
  }

  /**
   * A clone's node scores take in the preferences of the resources colocated with it (only
   * where that keeps them non-negative), before its instances are placed (pcmk__clone_allocate).
   */
  private addCloneDependentScores(cl: GroupRsc): void {
    const seen = new Set<string>();
    const cloneActive = cl.children.some((c) => c.runningOn.length > 0);
    for (const c of this.withThis.get(cl.children[0]!) ?? []) {
      if (c.primaryClone !== cl || seen.has(c.id) || c.dependent.cloneOf === cl) continue;
      seen.add(c.id);
      if (!(c.influence || !cloneActive)) continue;
      const factor = Math.fround(c.score / INFINITY);
      const dep = c.dependent.cloneOf;
      const res = this.mergeScores(dep ? dep.children[0]! : c.dependent, cl.allowed, c.nodeAttribute, factor, true, true, dep?.allowed);
      if (res) for (const [k, v] of res) cl.allowed.set(k, v);
    }
  }

  /**
   * A resource's node scores merged with those of the resources it must be placed with, following
   * "this with" colocations (Pacemaker's forward merge, used to order assignment by capacity).
   */
  forwardScores(rsc: Rsc, nodes?: Map<string, number>, attr = '#uname', factor = 1): Map<string, number> {
    if (nodes && rsc.merging) return nodes;
    rsc.merging = true;
    let work: Map<string, number>;
    if (!nodes) {
      const last = rsc.group?.children[rsc.group.children.length - 1];
      work = last && last !== rsc ? this.forwardScores(last) : new Map(rsc.allowed);
    } else {
      work = new Map(nodes);
      for (const [id, w] of work) {
        const n = this.ws.nodes.find((x) => x.id === id)!;
        const score = this.bestScoreMatching(rsc, attr, n.attrs.get(attr));
        if (factor < 0 && score < 0) continue;
        work.set(id, addScores(colocatedWeight(factor, score), w));
      }
    }
    if (anyAvailable(this.ws, work)) {
      const sign = factor < 0 ? -1 : 1;
      for (const c of this.thisWith.get(rsc) ?? []) {
        work = this.forwardScores(c.primary, work, c.nodeAttribute, sign * Math.fround(c.score / INFINITY));
      }
    }
    rsc.merging = false;
    return work;
  }

  private bestScoreMatching(rsc: Rsc, attr: string, value: string | undefined, scoresOf?: Map<string, number>): number {
    let best = -INFINITY;
    for (const [id, w] of scoresOf ?? rsc.allowed) {
      const n = this.ws.nodes.find((x) => x.id === id)!;
      if (w > best && nodeAvailable(n) && n.attrs.get(attr) === value) best = w;
    }
    return best;
  }

  /** Resources that must share rsc's node (mandatory colocations either way, group siblings), as Pacemaker's colocated_resources. */
  private colocatedWith(rsc: Rsc): Rsc[] {
    const out: Rsc[] = [];
    const visit = (r: Rsc): void => {
      if (out.includes(r)) return;
      out.push(r);
      for (const m of r.group?.children ?? []) visit(m);
      const plain = (c: Colocation): boolean => c.score >= INFINITY && (c.dependentRole ?? 'Started') === 'Started' && (c.primaryRole ?? 'Started') === 'Started';
      for (const c of this.thisWith.get(r) ?? []) if (plain(c) && c.primary !== rsc) visit(c.primary);
      for (const c of this.withThis.get(r) ?? []) if (plain(c) && c.dependent !== rsc && !(r.cloneOf && !c.dependent.cloneOf)) visit(c.dependent);
    };
    visit(rsc);
    return out;
  }

  private assignBest(rsc: Rsc, preferred0?: NodeInfo): void {
    const ws = this.ws;
    // Scores are printed before capacity is checked.
    const printed = new Map(rsc.allowed);
    const mostFree = banInsufficientCapacity(ws, rsc, this.colocatedWith(rsc), nodeAvailable, (n, why) => {
      rsc.printedScores ??= printed;
      addLocation(ws, rsc, n, -INFINITY, why);
    });
    const current = rsc.runningOn[0];
    const entries = [...rsc.allowed.entries()].map(([id, w]) => ({ node: ws.nodes.find((n) => n.id === id)!, w }));
    const eff = (e: { node: NodeInfo; w: number }): number => (nodeAvailable(e.node) ? e.w : -INFINITY);
    const strategy = ws.config.options.placementStrategy.toLowerCase();
    entries.sort((a, b) => {
      const d = eff(b) - eff(a);
      if (d !== 0) return d;
      if (strategy === 'balanced') {
        const c = compareCapacities(ws, a.node, b.node);
        if (c !== 0) return c;
      }
      if (strategy !== 'minimal') {
        if (a.node.numResources !== b.node.numResources) return a.node.numResources - b.node.numResources;
        if (current) {
          if (a.node === current) return -1;
          if (b.node === current) return 1;
        }
      }
      return a.node.uname < b.node.uname ? -1 : a.node.uname > b.node.uname ? 1 : 0;
    });
    const prefer = preferred0 ?? mostFree;
    const preferred = prefer ? entries.find((e) => e.node === prefer) : undefined;
    if (preferred && entries[0] && preferred.w >= entries[0].w && preferred.w >= 0 && nodeAvailable(preferred.node)) {
      this.finalize(rsc, preferred.node, false, preferred.w);
      return;
    }
    let chosen: (typeof entries)[number] | undefined = entries[0];
    // A unique clone's instances were already kept where they run when that was right.
    const uniqueInstance = rsc.cloneOf?.clone?.unique === true;
    if (chosen && !uniqueInstance && chosen.w > 0 && nodeAvailable(chosen.node) && current && nodeAvailable(current) && (rsc.allowed.get(current.id) ?? -1) >= 0) {
      for (const e of entries.slice(1)) {
        if (e.w !== chosen.w) break;
        if (e.node === current) chosen = e;
      }
    }
    this.finalize(rsc, chosen?.node, false, chosen?.w);
  }

  /** Takes an assignment back (Pacemaker's pcmk__unassign_resource). */
  unassign(rsc: Rsc): void {
    const old = rsc.allocatedTo;
    if (!old) return;
    rsc.provisional = true;
    rsc.allocatedTo = undefined;
    old.numResources--;
    releaseCapacity(this.ws, rsc, old);
  }

  finalize(rsc: Rsc, node: NodeInfo | undefined, force: boolean, weight?: number): void {
    let chosen = node;
    if (!force && chosen && ((weight ?? 0) < 0 || !nodeAvailable(chosen))) {
      rsc.nextRole = 'Stopped';
      rsc.nextRoleReason = 'node availability';
      chosen = undefined;
    }
    rsc.provisional = false;
    rsc.allocatedTo = undefined;
    if (!chosen) {
      if (rsc.nextRole === 'Unknown' || rsc.managed) rsc.nextRole = rsc.managed ? 'Stopped' : rsc.nextRole;
      for (const a of rsc.actions) {
        if (a.task === 'stop') a.optional = false;
        else if (a.task === 'start') a.runnable = false;
        else if (a.intervalMs > 0 && a.expectedRc !== 7) a.runnable = false;
      }
      return;
    }
    rsc.allocatedTo = chosen;
    chosen.numResources++;
    consumeCapacity(this.ws, rsc, chosen);
  }
}

/** A node a clone's dependents would have made negative (Pacemaker's INFINITY_HACK). */
const UNUSABLE = Number.MIN_SAFE_INTEGER;

/** A colocated resource's score scaled by the colocation's factor, rounded as Pacemaker does (never to 0 from non-0). */
function colocatedWeight(factor: number, score: number): number {
  const wf = Math.fround(factor * score);
  const weight = Math.trunc(wf < 0 ? wf - 0.5 : wf + 0.5);
  if (weight === 0 && score !== 0) return factor > 0 ? 1 : factor < 0 ? -1 : 0;
  return weight;
}

function rankOf(r: string): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

function insertSorted(map: Map<Rsc, Colocation[]>, key: Rsc, c: Colocation, other: (c: Colocation) => Rsc): void {
  const list = map.get(key) ?? [];
  const cmp = (a: Colocation, b: Colocation): number => {
    const ra = other(a), rb = other(b);
    if (ra.priority !== rb.priority) return rb.priority - ra.priority;
    return ra.id < rb.id ? -1 : ra.id > rb.id ? 1 : 0;
  };
  let i = 0;
  while (i < list.length && cmp(c, list[i]!) > 0) i++;
  list.splice(i, 0, c);
  map.set(key, list);
}
