// Creates the actions that take each primitive from its current state to its
// assigned one, plus probes, recurring monitors, shutdowns and orderings.
import { nodeAvailable } from '../placement/assign.js';
import type { Colocation } from '../placement/colocation.js';
import type { NodeInfo } from '../status/model.js';
import { createPromotableInstanceActions, orderPromotable } from './promotable.js';
import { customAction, opKey, order, type Action, type GroupRsc, type Ordering, type Rsc, type WorkingSet } from '../working-set.js';
import { ColocationBlocker } from './colocation-block.js';
import { applyCloneSummaries, cloneMinPseudo, initCloneRunning, instanceTask, minimumFirstInstances, orderInstancesInSequence, orderIntoClone } from './clone-order.js';
import { groupOrdered, orderGroupInstances, probedGroupInstance } from './cloned-groups.js';
import { cloneNotifyPseudoOps, instanceActivity, notifiedCompletion } from './notify.js';

function rank(r: string): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

export function scheduleProbes(ws: WorkingSet): void {
  for (const node of ws.nodes) {
    // Pending nodes are probed too; their probes cannot run yet.
    if (!node.online || node.unclean) continue;
    for (const rsc of ws.rscs) {
      if (rsc.orphan || rsc.knownOn.has(node.id)) continue;
      const cl = rsc.cloneOf;
      if (cl && !cl.clone!.unique) {
        // An anonymous clone is probed once per node, through the instance meant for that node.
        if (cl.instances) {
          if (rsc.group !== probedGroupInstance(cl, node)) continue;
        } else if (cl.children.some((c) => c.knownOn.has(node.id))) continue;
        else {
          const pick = cl.children.find((c) => c.allocatedTo === node) ?? cl.children.find((c) => c.runningOn.includes(node)) ?? cl.children[0];
          if (pick !== rsc) continue;
        }
      }
      const probe = customAction(ws, rsc, 'monitor', node, false, { intervalMs: 0 });
      probe.expectedRc = rsc.runningOn.includes(node) ? 0 : 7;
    }
  }
}

/**
 * The node a multiply active resource with multiple-active=stop_unexpected keeps running on
 * while it is restarted: it is stopped only elsewhere, and its start there is a pseudo action.
 */
function expectedNode(rsc: Rsc): NodeInfo | undefined {
  if (rsc.multipleActive !== 'stop_unexpected' || rsc.runningOn.length < 2 || rank(rsc.nextRole) <= rank('Stopped')) return undefined;
  return rsc.allocatedTo;
}

function stopResource(ws: WorkingSet, rsc: Rsc, optional: boolean, restarting = false): void {
  const expected = restarting ? expectedNode(rsc) : undefined;
  for (const node of rsc.runningOn) {
    if (node === expected) continue;
    const stop = customAction(ws, rsc, 'stop', node, optional);
    if (!optional) stop.optional = false;
    if (!rsc.allocatedTo) stop.reason ??= 'node availability';
    else if (expected) stop.reason ??= 'being multiply active';
    if (!rsc.managed) stop.runnable = false;
  }
}

function startResource(ws: WorkingSet, rsc: Rsc, node: NodeInfo | undefined, optional: boolean, restarting = false): void {
  if (!node) return;
  const start = customAction(ws, rsc, 'start', node, true);
  if (!rsc.managed) start.runnable = false;
  // As Pacemaker's start_resource: a start that cannot run (no quorum, say) is left optional.
  if (!optional && start.runnable) start.optional = false;
  if (restarting && node === expectedNode(rsc)) start.pseudo = true;
}

/** A group's own pseudo actions, made after its members' actions. */
export function createGroupActions(ws: WorkingSet, g: GroupRsc): void {
  // An instance of a promotable clone also gets demote/demoted/promote/promoted points.
  const promotable = g.cloneOf?.clone?.promotable === true;
  for (const task of ['start', 'running', 'stop', 'stopped', ...(promotable ? ['demote', 'demoted', 'promote', 'promoted'] : [])]) {
    customAction(ws, undefined, task, undefined, true, { group: g, pseudo: true });
  }
}

export function createResourceActions(ws: WorkingSet, rsc: Rsc): void {
  if (rsc.cloneOf?.clone?.promotable) {
    createPromotableInstanceActions(ws, rsc);
    return;
  }
  if (rsc.nextRole === 'Unknown') rsc.nextRole = rsc.allocatedTo ? 'Started' : 'Stopped';
  // Where it is active (Pacemaker's pe__find_active_on): a resource that needs no fencing counts
  // only clean nodes, so it is neither moved from nor multiply active because of an unclean one.
  const needsFencing = rsc.requires === 'fencing' || rsc.requires === 'unfencing';
  const clean = rsc.runningOn.filter((n) => n.online && !n.unclean);
  const current = needsFencing ? rsc.runningOn[0] : clean[0] ?? rsc.runningOn[0];
  let needStop = false;
  let moving = false;
  if (current && rsc.allocatedTo && current !== rsc.allocatedTo && rank(rsc.nextRole) >= rank('Started')) {
    moving = true;
    needStop = true;
  }
  const multiplyActive = needsFencing ? rsc.runningOn.length > 1 : clean.length > 1;
  if (multiplyActive && (rsc.multipleActive === 'stop_start' || rsc.multipleActive === 'stop_unexpected')) needStop = true;
  if (moving) {
    // nothing more
  } else if (rsc.failed) {
    if (rsc.stopNeeded) needStop = true;
  } else if (rsc.blocked) {
    needStop = true;
  }
  // A reload (scheduled from the digests) is pointless when the resource stops or moves anyway.
  const stays = current !== undefined && rsc.allocatedTo === current && rank(rsc.nextRole) >= rank('Started');
  if (!stays || needStop) for (const a of rsc.actions) if (a.task === 'reload-agent') a.optional = true;
  if (rsc.startPending && rsc.allocatedTo && rsc.allocatedTo === current && !needStop) {
    // A start still in flight is issued again (it was never confirmed).
    customAction(ws, rsc, 'start', rsc.allocatedTo, false);
  }
  // Bring the resource down (optionally), then back up to its current role.
  let role = rsc.role;
  if (role === 'Promoted') {
    // A primitive found promoted (an agent's rc 8) is demoted before it stops, as the role matrix says.
    for (const node of rsc.runningOn) {
      const d = customAction(ws, rsc, 'demote', node, !needStop);
      if (!rsc.managed) d.runnable = false;
    }
  }
  while (role !== 'Stopped') {
    stopResource(ws, rsc, !needStop, true);
    role = 'Stopped';
  }
  while (rank(rsc.role) <= rank(rsc.nextRole) && role !== rsc.role && !rsc.blocked) {
    startResource(ws, rsc, rsc.allocatedTo, !needStop, true);
    role = rsc.role;
  }
  // Then the required steps from the current role to the next.
  role = rsc.role;
  while (role !== rsc.nextRole) {
    if (rsc.nextRole === 'Stopped' || role !== 'Stopped') {
      stopResource(ws, rsc, false);
      role = 'Stopped';
      if (rsc.nextRole === 'Stopped') break;
      continue;
    }
    startResource(ws, rsc, rsc.allocatedTo, false);
    break;
  }
  createRecurring(ws, rsc);
  createStoppedRecurring(ws, rsc);
}

/** Monitors with role="Stopped": run on every node where the resource will not be, expecting "not running". */
function createStoppedRecurring(ws: WorkingSet, rsc: Rsc): void {
  if (ws.config.options.maintenanceMode) return;
  const target = rsc.nextRole === 'Stopped' ? undefined : rsc.allocatedTo;
  for (const op of rsc.ops) {
    if (op.intervalMs <= 0 || !op.enabled || op.role !== 'Stopped' || isDuplicateOp(rsc, op)) continue;
    const key = opKey(rsc.id, op.name, op.intervalMs);
    for (const node of ws.nodes) {
      if (node === target) {
        // Where it will run, an active stopped-role monitor is cancelled.
        const running = rsc.actions.find((a) => a.key === key && a.node === node);
        if (running) {
          const c = customAction(ws, rsc, 'cancel', node, false, { intervalMs: op.intervalMs, key: `cancel-${key}`, label: `cancel=${op.intervalMs}`, reuseIdOf: running });
          c.expectedRc = 0;
          // The monitor is cancelled before the resource starts.
          if (rsc.nextRole === 'Started' || rsc.nextRole === 'Unpromoted') {
            for (const st of rsc.actions.filter((a) => a.task === 'start')) order(ws, c, st, { runnableLeft: true });
          }
        }
        continue;
      }
      const active = rsc.actions.some((a) => a.key === key && a.node === node);
      const mon = customAction(ws, rsc, op.name, node, active, { intervalMs: op.intervalMs });
      mon.expectedRc = 7;
      if (rsc.managed) {
        for (const probe of rsc.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0 && a.node === node)) {
          order(ws, probe, mon, { runnableLeft: true });
        }
        for (const stop of rsc.actions.filter((a) => a.task === 'stop' && a.node === node)) {
          if (!stop.optional) mon.optional = false;
          order(ws, stop, mon, { impliesThen: true, runnableLeft: true });
        }
      }
      if (!node.online || node.unclean) mon.runnable = false;
    }
  }
}

/** Two definitions with one name and interval are both ignored (a configuration error in Pacemaker). */
function isDuplicateOp(rsc: Rsc, op: Rsc['ops'][number]): boolean {
  return rsc.ops.some((o) => o !== op && o.name === op.name && o.intervalMs === op.intervalMs);
}

function createRecurring(ws: WorkingSet, rsc: Rsc): void {
  // In cluster-wide maintenance-mode no recurring operation is scheduled (running ones are left alone).
  if (rsc.blocked || ws.config.options.maintenanceMode) return;
  const node = rsc.allocatedTo;
  if (node?.maintenance) return;
  let start: Action | undefined;
  if (node && (rsc.nextRole !== 'Stopped' || !rsc.managed)) {
    start = customAction(ws, rsc, 'start', node, true);
    if (!rsc.managed) start.runnable = false;
  }
  for (const op of rsc.ops) {
    if (op.intervalMs <= 0 || !op.enabled || isDuplicateOp(rsc, op)) continue;
    if (op.name !== 'monitor' && op.name !== 'status') continue;
    if (op.role === 'Stopped') continue;
    if (rsc.nextRole === 'Stopped' || (!node && rsc.managed)) continue;
    if ((op.role !== undefined && op.role !== rsc.nextRole && !(op.role === 'Started' && rsc.nextRole === 'Started')) ||
      (op.role === undefined && rsc.nextRole === 'Promoted')) continue;
    const key = opKey(rsc.id, op.name, op.intervalMs);
    let optional = true;
    if (!node) optional = true;
    // An unmanaged resource's start is always optional in Pacemaker, so its monitors need not restart.
    else if (start && !start.optional && rsc.managed) optional = false;
    else if (!rsc.actions.some((a) => a.key === key && a.node === node)) optional = false;
    else if (node && rsc.reschedule.has(`${node.id}:${key}`)) optional = false;
    if (!node) continue;
    const mon = customAction(ws, rsc, op.name, node, optional, { intervalMs: op.intervalMs });
    // (An unmanaged resource's start, optional in Pacemaker, does not require its monitors.)
    if (start) order(ws, start, mon, { impliesThen: rsc.managed, runnableLeft: true });
    // An unmanaged resource's start is never run, but its monitors are (Pacemaker leaves such starts runnable).
    if (start && !start.runnable && rsc.managed) mon.runnable = false;
    else if (!node.online || node.unclean) mon.runnable = false;
  }
}

/** Shutdown actions for nodes asked to leave, after every stop there. */
export function scheduleShutdowns(ws: WorkingSet): Action[] {
  const out: Action[] = [];
  for (const node of ws.nodes) {
    if (!node.online || !node.shutdown || node.unclean) continue;
    const a = customAction(ws, undefined, 'do_shutdown', node, false, { key: `do_shutdown-${node.uname}` });
    out.push(a);
    for (const rsc of ws.rscs) {
      // Resources in maintenance are left alone; an unmanaged one only when it is not blocked.
      if (rsc.maintenance || ws.config.options.maintenanceMode || node.maintenance || (!rsc.managed && !rsc.blocked)) continue;
      for (const s of rsc.actions) {
        if (s.task !== 'stop' || s.node !== node) continue;
        // Everything stops before the node shuts down; a stop that cannot happen holds the shutdown.
        s.optional = false;
        order(ws, s, a, { runnableLeft: true });
      }
    }
  }
  // The DC shuts down after every other node, to avoid repeated elections.
  const dcDown = out.find((a) => a.node?.attrs.get('#is_dc') === 'true');
  if (dcDown) for (const a of out) if (a !== dcDown) order(ws, a, dcDown, {});
  return out;
}

/** Orderings within and between resources, resolved against the actions that exist. */
export function createOrderings(ws: WorkingSet, colocations: readonly Colocation[] = []): void {
  for (const rsc of ws.rscs) {
    const stops = rsc.actions.filter((a) => a.task === 'stop');
    const starts = rsc.actions.filter((a) => a.task === 'start');
    if (!rsc.cloneOf?.clone?.promotable) {
      for (const d of rsc.actions.filter((a) => a.task === 'demote')) for (const s of stops) order(ws, d, s, { impliesFirst: rsc.role === 'Promoted' });
    }
    for (const s of stops) for (const t of starts) order(ws, s, t, { impliesThen: true, restart: true });
    for (const p of rsc.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0)) {
      for (const t of starts) order(ws, p, t, {});
      // A probe that cannot run (a pending node) keeps an inactive resource from starting anywhere.
      const top = rsc.cloneOf ?? rsc.group;
      const topActive = top ? top.children.some((c) => c.runningOn.length > 0) : rsc.runningOn.length > 0;
      if (p.node && !p.runnable && !topActive) {
        const topStart = top?.actions.find((a) => a.task === 'start');
        if (topStart) order(ws, p, topStart, { runnableLeft: true });
        else for (const t of starts) order(ws, p, t, { runnableLeft: true });
      }
    }
    if (rsc.orphan) {
      // An orphan's fail counts are cleared before it stops.
      for (const c of rsc.actions.filter((a) => a.task === 'clear_failcount')) for (const s of stops) order(ws, c, s, {});
    }
    // A stopped-role monitor cancelled where the resource is to run is not waiting for a stop.
    const stoppedRoleCancel = (c: Action): boolean => c.task === 'cancel' &&
      rsc.ops.some((o) => o.role === 'Stopped' && c.key === `cancel-${opKey(rsc.id, o.name, o.intervalMs)}`);
    for (const c of rsc.actions.filter((a) => a.task === 'cancel' || a.task === 'delete')) {
      if (!stoppedRoleCancel(c)) for (const s of stops) order(ws, s, c, {});
      // stop, then clean-up, then start
      if (c.task === 'delete') for (const t of starts) order(ws, c, t, {});
    }
  }
  for (const g of ws.groups) {
    const ga = (task: string): Action => g.actions.find((a) => a.task === task)!;
    const [gStart, gRunning, gStop, gStopped] = [ga('start'), ga('running'), ga('stop'), ga('stopped')];
    order(ws, gStop, gStopped, { runnableLeft: true });
    order(ws, gStopped, gStart, {});
    order(ws, gStart, gRunning, { runnableLeft: true });
    // ordered=false (the group's own meta, or inherited from its clone): members start and stop together.
    const ordered = groupOrdered(ws, g);
    let prev: Rsc | undefined;
    let lastActive: Rsc | undefined;
    for (const c of g.children) {
      // Like Pacemaker, an ordering on a missing start creates it (without a node, so unrunnable).
      if (!c.actions.some((a) => a.task === 'start')) customAction(ws, c, 'start', undefined, true);
      for (const st of c.actions.filter((a) => a.task === 'start')) {
        order(ws, gStart, st, { runnableLeft: true, requiredThenFirst: true });
        order(ws, st, gRunning, { impliesThen: true, runnableLeft: true });
        if (prev && ordered) for (const ps of prev.actions.filter((a) => a.task === 'start')) order(ws, ps, st, { impliesThen: true, runnableLeft: true });
      }
      for (const sp of c.actions.filter((a) => a.task === 'stop')) {
        order(ws, gStop, sp, { requiredThenFirst: true });
        order(ws, sp, gStopped, { impliesThen: true, runnableLeft: true });
        if (prev && ordered) for (const ps of prev.actions.filter((a) => a.task === 'stop')) order(ws, sp, ps, { restart: true });
      }
      // The member's stop comes before the group is stopped and before the previous member stops,
      // so its probes do too, whether or not it stops (the orderings name the stop by key).
      for (const p of c.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0 && a.node)) {
        order(ws, p, gStopped, {});
        if (prev && ordered) for (const ps of prev.actions.filter((a) => a.task === 'stop')) order(ws, p, ps, {});
      }
      if (c.runningOn.length > 0) {
        // A partially active group still stops in sequence, across its inactive members.
        if (ordered && prev && prev.runningOn.length === 0 && lastActive) {
          for (const sp of c.actions.filter((a) => a.task === 'stop')) {
            for (const ls of lastActive.actions.filter((a) => a.task === 'stop')) order(ws, sp, ls, {});
          }
        }
        lastActive = c;
      }
      prev = c;
    }
  }
  for (const cl of ws.clones) {
    const ca = (task: string): Action => customAction(ws, undefined, task, undefined, true, { group: cl, pseudo: true });
    // Pacemaker's creation order: start, running, their notifications, stop, stopped, theirs.
    const act = instanceActivity(cl);
    const [cStart, cRunning] = [ca('start'), ca('running')];
    const startNotify = cloneNotifyPseudoOps(ws, cl, 'start', { a: cStart, optional: !act.starting },
      { a: cRunning, optional: !act.starting, runnable: act.active || act.starting });
    const [cStop, cStopped] = [ca('stop'), ca('stopped')];
    const stopNotify = cloneNotifyPseudoOps(ws, cl, 'stop', { a: cStop, optional: !act.stopping }, { a: cStopped, optional: !act.stopping, runnable: true });
    if (startNotify && stopNotify) order(ws, stopNotify.postDone!, startNotify.pre!, {});
    // Their flags follow the instances' (applyCloneSummaries, during propagation).
    initCloneRunning(cl, cRunning);
    order(ws, cStopped, cStart, {});
    order(ws, cStart, cRunning, { runnableLeft: true });
    order(ws, cStop, cStopped, { runnableLeft: true });
    if (cl.clone!.ordered) orderInstancesInSequence(ws, cl);
    if (cl.instances) orderGroupInstances(ws, cl, cStart, cRunning, cStop, cStopped);
    for (const c of cl.children) {
      // Members of group instances are ordered through their group's pseudo actions.
      for (const st of c.actions.filter((a) => a.task === 'start' && !cl.instances)) {
        order(ws, cStart, st, { runnableLeft: true, requiredThenFirst: true });
        order(ws, st, cRunning, { impliesThen: true });
      }
      for (const sp of c.actions.filter((a) => a.task === 'stop' && !cl.instances)) {
        order(ws, cStop, sp, { requiredThenFirst: true });
        order(ws, sp, cStopped, { impliesThen: true });
      }
      // Probes of an instance come before the clone starts or stops anywhere.
      for (const p of c.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0 && a.node)) {
        order(ws, p, cStart, {});
        order(ws, p, cStop, {});
      }
    }
    if (cl.clone!.promotable) orderPromotable(ws, cl);
  }
  // A mandatory anti-colocation: the primary starts on a node only once the
  // dependent is known not to be running there.
  for (const c of colocations) {
    if (c.score > -1_000_000) continue;
    for (const p of c.dependent.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0 && a.node)) {
      for (const st of c.primary.actions.filter((a) => a.task === 'start' && a.node === p.node)) order(ws, p, st, {});
    }
  }
  const byId = new Map<string, Rsc | GroupRsc>(ws.rscs.map((r) => [r.id, r]));
  for (const g of ws.groups) byId.set(g.id, g);
  for (const c of ws.clones) byId.set(c.id, c);
  orderAntiColocations(ws, byId);
  const inverse = (t: string): string => (t === 'start' ? 'stop' : t === 'stop' ? 'start' : t === 'promote' ? 'demote' : t === 'demote' ? 'promote' : t);
  const pairs: { first: string; then: string; fa: string; ta: string; kind: string; sym: boolean; id?: string; requireAll?: boolean }[] = [];
  for (const o of ws.config.orders) {
    if (o.sets.length === 0) {
      if (o.first !== undefined && o.then !== undefined) {
        pairs.push({ first: o.first, then: o.then, fa: o.firstAction, ta: o.thenAction, kind: o.kind, sym: o.symmetrical, id: o.id, requireAll: o.requireAll });
      }
      continue;
    }
    for (const set of o.sets) {
      if (!set.sequential) continue;
      for (let i = 1; i < set.resources.length; i++) {
        const act = set.action ?? 'start';
        pairs.push({ first: set.resources[i - 1]!, then: set.resources[i]!, fa: act, ta: act, kind: set.kind ?? o.kind, sym: o.symmetrical });
      }
    }
    for (let s = 0; s + 1 < o.sets.length; s++) {
      const a = o.sets[s]!, b = o.sets[s + 1]!;
      if (!a.requireAll) {
        // "One or more" of the first set is enough: a pseudo action stands between the sets.
        const pseudo = customAction(ws, undefined, 'one-or-more', undefined, true, { key: `one-or-more:${a.id}`, pseudo: true });
        pseudo.requiresAny = true;
        for (const id of a.resources) {
          const r = byId.get(id);
          if (!r) continue;
          const task = a.action ?? 'start';
          let firsts = r.actions.filter((x) => x.task === task && x.intervalMs === 0);
          if (firsts.length === 0) firsts = [isGroup(r) ? customAction(ws, undefined, task, undefined, true, { group: r, pseudo: true }) : customAction(ws, r, task, undefined, true)];
          for (const f of firsts) order(ws, f, pseudo, { impliesThenPrinted: true });
        }
        for (const id of b.resources) {
          const r = byId.get(id);
          if (r) for (const t of r.actions.filter((x) => x.task === (b.action ?? 'start') && x.intervalMs === 0)) order(ws, pseudo, t, { runnableLeft: true, requiredThenFirst: true });
        }
        continue;
      }
      const firsts = a.sequential ? a.resources.slice(-1) : a.resources;
      const thens = b.sequential ? b.resources.slice(0, 1) : b.resources;
      for (const f of firsts) for (const t of thens) pairs.push({ first: f, then: t, fa: a.action ?? 'start', ta: b.action ?? 'start', kind: o.kind, sym: o.symmetrical });
    }
  }
  for (const p of pairs) {
    const f = byId.get(p.first), t = byId.get(p.then);
    if (!f || !t || f === t) continue;
    if (!isGroup(f) && !isGroup(t) && f.group && f.group === t.group) continue;
    const mandatory = p.kind === 'Mandatory';
    const runnableLeft = p.fa === 'start' || p.fa === 'promote';
    // restart-type=restart (deprecated) on "then" makes an optional order restart it with "first".
    const restartThen = p.kind === 'Optional' && metaOf(ws, p.then, 'restart-type') === 'restart';
    const flags = !mandatory ? (restartThen ? { impliesThen: true } : {}) : !p.sym ? { asymmetric: true } : { impliesThen: true, runnableLeft };
    const min = p.id !== undefined ? minimumFirstInstances(f, p.requireAll) : 0;
    if (min > 0 && isGroup(f)) {
      // clone-min: "then" waits until enough instances can do the "first" action.
      const pseudo = cloneMinPseudo(ws, p.id!, f, p.fa, min);
      const thenFlags = { ...flags, runnableLeft: true };
      if (isGroup(t) && t.clone) orderIntoClone(ws, undefined, [pseudo], t, p.ta, thenFlags);
      else for (const b of t.actions.filter((a) => a.task === p.ta && a.intervalMs === 0)) order(ws, pseudo, b, thenFlags);
    } else link(ws, f, p.fa, t, p.ta, flags);
    // Pacemaker's implies_first clears "first"'s optional flag only when the flags it orders by
    // (an instance summary) are already required, so a required "then" stop does not force it.
    if (p.sym) link(ws, t, inverse(p.ta), f, inverse(p.fa), mandatory || restartThen ? { impliesFirst: true, impliesFirstInert: true } : {});
    if (p.sym) orderProbesBeforeStops(ws, t, inverse(p.ta), f, inverse(p.fa), false);
    else orderProbesBeforeStops(ws, f, p.fa, t, p.ta, mandatory);
  }
  orderProbesBeforeStopOrders(ws);
}

/**
 * Whatever is ordered after a resource's stop also waits for that resource's probes
 * (Pacemaker's add_probe_orderings_for_stops): it must be known where it is active.
 */
function orderProbesBeforeStopOrders(ws: WorkingSet): void {
  for (const o of [...ws.orderings]) {
    const { first, then } = o;
    if (o.memberOnly || o.instanceOnly || o.graphOnly || first.task !== 'stop' || !first.rsc || then.rsc === first.rsc) continue;
    for (const p of first.rsc.actions) {
      if (p.task !== 'monitor' || p.intervalMs !== 0 || !p.node) continue;
      if (then.task === 'do_shutdown' && then.node !== p.node) continue;
      order(ws, p, then, {});
    }
  }
}

/** A resource's meta attribute as configured, a group's or clone's applying to what is inside. */
function metaOf(ws: WorkingSet, id: string, name: string): string | undefined {
  for (const r of ws.config.resources) {
    if (r.id === id) return r.meta[name];
    const inner = r.kind === 'clone' ? [r.child] : r.kind === 'group' ? [r] : [];
    for (const x of inner) {
      if (x.id === id) return x.meta[name] ?? r.meta[name];
      if (x.kind !== 'group') continue;
      const c = x.children.find((m) => m.id === id);
      if (c) return c.meta[name] ?? x.meta[name] ?? r.meta[name];
    }
  }
  return undefined;
}

/**
 * Pacemaker's anti_colocation_order for each -INFINITY colocation, both ways: the actions
 * that make one resource leave its role come before those that make the other take its role.
 */
function orderAntiColocations(ws: WorkingSet, byId: Map<string, Rsc | GroupRsc>): void {
  const leave = (role: string | undefined): string[] => role === 'Promoted' ? ['demote'] : role === 'Unpromoted' ? ['stop', 'promote'] : ['stop'];
  const take = (role: string | undefined): string[] => role === 'Promoted' ? ['promote'] : role === 'Unpromoted' ? ['start', 'demote'] : ['start'];
  const done: Record<string, string> = { start: 'running', stop: 'stopped', promote: 'promoted', demote: 'demoted' };
  const firstsOf = (r: Rsc | GroupRsc, task: string): Action[] => isGroup(r)
    ? r.actions.filter((a) => a.task === (done[task] ?? task)).map((a) => notifiedCompletion(r, a))
    : r.actions.filter((a) => a.task === task && a.intervalMs === 0);
  const thensOf = (r: Rsc | GroupRsc, task: string): Action[] => r.actions.filter((a) => a.task === task && a.intervalMs === 0);
  const pair = (f: Rsc | GroupRsc, fRole: string | undefined, t: Rsc | GroupRsc, tRole: string | undefined): void => {
    for (const ft of leave(fRole)) for (const tt of take(tRole)) {
      for (const a of firstsOf(f, ft)) for (const b of thensOf(t, tt)) order(ws, a, b, { graphOnly: true, antiColocation: true });
    }
  };
  for (const c of ws.config.colocations) {
    if (c.score > -1_000_000 || c.rsc === undefined || c.withRsc === undefined) continue;
    const dep = byId.get(c.rsc), pri = byId.get(c.withRsc);
    if (!dep || !pri || dep === pri) continue;
    pair(dep, c.rscRole, pri, c.withRscRole);
    pair(pri, c.withRscRole, dep, c.rscRole);
  }
}

function isGroup(r: Rsc | GroupRsc): r is GroupRsc {
  return 'children' in r;
}

function link(ws: WorkingSet, f: Rsc | GroupRsc, fa0: string, t: Rsc | GroupRsc, ta: string,
  flags: { impliesThen?: boolean; impliesFirst?: boolean; impliesFirstInert?: boolean; runnableLeft?: boolean; asymmetric?: boolean }): void {
  // Ordering after a group waits for its "running"/"stopped" pseudo action.
  const done: Record<string, string> = { start: 'running', stop: 'stopped', promote: 'promoted', demote: 'demoted' };
  const fa = isGroup(f) ? (done[fa0] ?? fa0) : fa0;
  let firsts = f.actions.filter((a) => a.task === fa && a.intervalMs === 0);
  // A clone with notifications is done only once its post-notifications are confirmed.
  if (isGroup(f)) firsts = firsts.map((a) => notifiedCompletion(f, a));
  const thens = t.actions.filter((a) => a.task === ta && a.intervalMs === 0);
  if (!isGroup(f) && firsts.length === 0) {
    // Pacemaker creates a missing "first" action without a node (so unrunnable),
    // except a stop of something stopped or a demote of something unpromoted.
    if ((fa === 'stop' && f.role === 'Stopped') || (fa === 'demote' && f.role !== 'Promoted')) return;
    firsts = [customAction(ws, f, fa, undefined, true)];
    // Pacemaker's internal "stop then start" orderings are by key, so they reach this start too.
    if (fa === 'start') for (const s of f.actions.filter((a) => a.task === 'stop')) order(ws, s, firsts[0]!, { impliesThen: true, restart: true });
  }
  if (isGroup(t) && t.clone) {
    orderIntoClone(ws, f, firsts, t, ta, flags);
    return;
  }
  for (const a of firsts) {
    for (const b of thens) {
      order(ws, a, b, flags);
      if (!isGroup(t) || (ta !== 'start' && ta !== 'stop')) continue;
      // As Pacemaker's group update_ordered_actions: the order's flags reach each member's action too.
      const groupOrder = ws.orderings[ws.orderings.length - 1]!;
      groupOrder.memberOrders = [];
      for (const c of t.children) {
        const mb = c.actions.find((x) => x.task === ta && x.intervalMs === 0);
        if (!mb) continue;
        order(ws, a, mb, { ...flags, memberOnly: true });
        groupOrder.memberOrders.push(ws.orderings[ws.orderings.length - 1]!);
      }
    }
  }
}

/** A stop-before-stop order also waits for the first resource's probes (it must be known stopped). */
function orderProbesBeforeStops(ws: WorkingSet, f: Rsc | GroupRsc, fa: string, t: Rsc | GroupRsc, ta: string, asymmetric: boolean): void {
  if (fa !== 'stop' || ta !== 'stop' || asymmetric || isGroup(f) || isGroup(t)) return;
  const thens = t.actions.filter((a) => a.task === 'stop' && a.intervalMs === 0);
  const probes = f.actions.filter((a) => a.task === 'monitor' && a.intervalMs === 0 && a.node !== undefined);
  for (const p of probes) for (const b of thens) order(ws, p, b, {});
}

/** Spreads required/unrunnable flags along orderings until nothing changes. */
export function propagate(ws: WorkingSet, colocations: readonly Colocation[] = []): void {
  const blocker = new ColocationBlocker(ws, colocations);
  const byFirst = new Map<Action, Ordering[]>(), byThen = new Map<Action, Ordering[]>();
  for (const o of ws.orderings) {
    if (o.memberOnly) continue;
    if (!byFirst.has(o.first)) byFirst.set(o.first, []);
    byFirst.get(o.first)!.push(o);
    if (!byThen.has(o.then)) byThen.set(o.then, []);
    byThen.get(o.then)!.push(o);
  }
  // Like Pacemaker's pcmk__update_action_for_orderings: each action pulls flags from the actions
  // ordered before it (newest ordering first); a change is followed at once into the changed
  // action's own orderings, so the first reason found is the one Pacemaker finds.
  for (const list of [...byFirst.values(), ...byThen.values()]) list.reverse();
  let budget = 200_000;
  const update = (then: Action, depth: number): boolean => {
    if (depth > 2000 || budget-- <= 0) return false;
    let thenChanged = false, any = false;
    const firstChanged = (first: Action): void => {
      for (const o2 of byFirst.get(first) ?? []) update(o2.then, depth + 1);
      update(first, depth + 1);
    };
    for (const o of byThen.get(then) ?? []) {
      let r = applyOrdering(o);
      // (Any change at all means another round over every action.)
      if (r !== 0) any = true;
      // A group's summary actions take their flags from the members without counting as a change
      // (Pacemaker computes them on demand), so nothing is revisited for them.
      if (then.group && !then.rsc && o.first.rsc?.group === then.group) r &= ~1;
      if (o.first.group && !o.first.rsc && then.rsc?.group === o.first.group) r &= ~2;
      if (r & 2) firstChanged(o.first);
      if (r & 1) thenChanged = true;
      for (const mo of o.memberOrders ?? []) {
        // Each member in turn, its own orderings followed at once when it changed.
        const rm = applyOrdering(mo);
        if (rm & 1) update(mo.then, depth + 1);
        if (rm & 2) firstChanged(mo.first);
        if (rm !== 0) thenChanged = any = true;
      }
      if (r !== 0) any = true;
    }
    if (thenChanged) {
      update(then, depth + 1);
      for (const o of byFirst.get(then) ?? []) update(o.then, depth + 1);
    }
    return any;
  };
  for (let round = 0; round < 1000; round++) {
    let changed = blocker.apply();
    for (const a of ws.actions) {
      if (!a.requiresAny || !a.runnable) continue;
      let inputs = ws.orderings.filter((o) => o.then === a);
      if (inputs.some((o) => o.oneOrMore)) inputs = inputs.filter((o) => o.oneOrMore);
      if (inputs.length > 0 && inputs.filter((o) => o.first.runnable).length < (a.requiredRunnable ?? 1)) {
        a.runnable = false;
        changed = true;
      }
    }
    if (applyCloneSummaries(ws)) changed = true;
    if (applyGroupSummaries(ws)) changed = true;
    // A required stop abandons an agent reload (Pacemaker's then_cancels_first).
    for (const a of ws.actions) {
      if (a.task !== 'reload-agent' || a.optional || !a.rsc) continue;
      if (a.rsc.actions.some((s) => s.task === 'stop' && s.node === a.node && !s.optional)) a.optional = true;
    }
    // Pacemaker keeps its action list newest first.
    for (const a of [...ws.actions].reverse()) if (update(a, 0)) changed = true;
    if (!changed) return;
  }
}

/**
 * A clone's action ordered before something outside clones counts as required only where that
 * runs: some instance's action on that node is required (Pacemaker's node-specific clone flags).
 */
function requiredWhereThenRuns(first: Action, then: Action): boolean {
  const cl = first.group?.clone ? first.group : undefined;
  if (!cl || first.rsc || then.rsc?.cloneOf || then.group?.clone || then.group?.cloneOf) return true;
  // Only groups (their own actions by the group's node, members by theirs) are judged here; for a
  // lone primitive the instances' flags settle in another order than Pacemaker's, where the
  // global flag gives its reasons.
  const group = then.group ?? then.rsc?.group;
  if (group && (group.clone || group.cloneOf)) return true;
  // A lone primitive after a clone's notification waits only for the instances on its node.
  if (!group && !(first.task === 'notify' || first.task === 'notified')) return true;
  const node = then.rsc ? then.node : group?.children[0]?.allocatedTo;
  if (!node) return true;
  // A notification stands for the instances' actions of the task it notifies about.
  const notified = first.task === 'notify' || first.task === 'notified' ? /_([a-z]+)_0$/.exec(first.key)?.[1] : undefined;
  const task = instanceTask(notified ?? first.task);
  return cl.children.some((c) => c.actions.some((a) => a.task === task && a.intervalMs === 0 && !a.optional && a.node === node));
}

/** Applies one ordering's flag rules; returns 1 when "then" changed, 2 when "first" did (or both). */
function applyOrdering(o: Ordering): number {
    const { first, then } = o;
    let out = 0;
    if (o.graphOnly) return 0;
    // A clone-level order reaches an instance's action only while that can run.
    if (o.instanceOnly && !then.runnable) return 0;
    if (o.impliesThenPrinted && first.runnable && !first.optional) then.printAlways = true;
    // An unmanaged resource's actions are optional in Pacemaker: they make nothing else required.
    if (o.impliesThen && !first.optional && then.optional && first.rsc?.managed !== false && requiredWhereThenRuns(first, then)) {
      then.optional = false;
      if (first.rsc && then.rsc !== first.rsc) then.reason ??= `required ${first.rsc.id} ${first.task}`;
      else if (first.group && !first.rsc) then.reason ??= `required ${first.group.id} ${first.task}`;
      out |= 1;
    }
    // An unmanaged resource's idle start blocks nothing.
    const idleUnmanaged = first.rsc !== undefined && !first.rsc.managed && (first.optional || first.task === 'start') && first.node !== undefined;
    if (o.runnableLeft && !first.runnable && then.runnable && !idleUnmanaged) {
      then.runnable = false;
      if (first.rsc && then.rsc !== first.rsc) then.reason ??= `unrunnable ${first.rsc.id} ${first.task}`;
      else if (first.group) then.reason ??= `unrunnable ${first.group.id} ${first.task}`;
      else if (!first.rsc) then.reason ??= `unrunnable ${first.key}`;
      out |= 1;
    }
    if (o.requiredThenFirst && !then.optional && then.runnable && first.optional) {
      first.optional = false;
      out |= 2;
    }
    if (o.impliesFirst && !o.impliesFirstInert && !then.optional && first.optional) {
      first.optional = false;
      // The reason names the action that made it required (Pacemaker's clear_action_flag_because).
      if (then.rsc && first.rsc && then.rsc !== first.rsc) first.reason ??= `required ${then.rsc.id} ${then.task}`;
      out |= 2;
    }
    if (o.asymmetric && !first.runnable && then.runnable && !then.optional) {
      then.runnable = false;
      if (first.rsc && then.rsc !== first.rsc) then.reason ??= `unrunnable ${first.rsc.id} ${first.task}`;
      else if (!first.rsc && first.group) then.reason ??= `unrunnable ${first.group.id} ${first.task}`;
      out |= 1;
    }
    if (o.restart && first.rsc === then.rsc && !first.optional && !first.runnable && then.runnable) {
      // A restart whose stop cannot happen cannot start either.
      then.runnable = false;
      out |= 1;
    }
    if (o.restart && first.rsc && then.rsc && first.rsc !== then.rsc && !then.optional) {
      // A later group member's stop before an earlier one's (Pacemaker's restart ordering):
      // required with it, and when it cannot happen, neither can the earlier member's.
      if (first.optional) {
        first.optional = false;
        first.reason ??= `required ${then.rsc.id} ${then.task}`;
        out |= 2;
      }
      if (!first.runnable && then.runnable) {
        then.runnable = false;
        then.reason ??= `unrunnable ${first.rsc.id} ${first.task}`;
        out |= 1;
      }
    }
    // (A start still pending is not restarted, but one that cannot run any more is stopped.)
    if (o.restart && first.optional && first.runnable && then.rsc && then.rsc.managed && first.rsc === then.rsc &&
      ((!then.optional && then.runnable && !then.rsc.startPending) || !then.runnable)) {
      first.optional = false;
      out |= 2;
    }
    // (After the restart handling, as in Pacemaker.) A stop that must wait for an unmanaged resource's blocked stop is blocked too.
    if ((o.impliesFirst || o.impliesThen || o.restart) && first.task === 'stop' && then.task === 'stop' && !first.runnable &&
      first.rsc && !first.rsc.managed && then.runnable) {
      then.runnable = false;
      out |= 1;
    }
  return out;
}

/**
 * A group's pseudo action is required as soon as one member's matching action is
 * (Pacemaker's group action flags), even when that member action cannot run:
 * a member restarted for a definition change but placed nowhere still needs the group's start.
 */
function applyGroupSummaries(ws: WorkingSet): boolean {
  let changed = false;
  const memberTask: Record<string, string> = { start: 'start', running: 'start', stop: 'stop', stopped: 'stop' };
  for (const g of ws.groups) {
    for (const ga of g.actions) {
      const task = memberTask[ga.task];
      if (!task || !ga.optional) continue;
      const required = g.children.some((c) => {
        const ma = c.actions.find((a) => a.task === task && a.intervalMs === 0);
        // Pacemaker keeps an unmanaged member's actions optional; here they are required but unrunnable.
        return ma !== undefined && !ma.optional && c.managed;
      });
      if (required) {
        ga.optional = false;
        changed = true;
      }
    }
  }
  return changed;
}

export function inGraph(a: Action): boolean {
  return (!a.optional || a.printAlways === true) && a.runnable;
}

export { nodeAvailable };
