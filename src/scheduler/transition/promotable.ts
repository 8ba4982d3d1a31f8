// Actions of promotable clone instances (start, promote, demote, stop along
// Pacemaker's role matrix), the clone's promote/demote pseudo actions, and
// their orderings.
import type { Role } from '../cib/model.js';
import type { NodeInfo } from '../status/model.js';
import { cloneNotifyPseudoOps } from './notify.js';
import { groupOrdered } from './cloned-groups.js';
import { customAction, opKey, order, type Action, type GroupRsc, type Rsc, type WorkingSet } from '../working-set.js';

function rank(r: Role): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

/** The next role on the way from a role to a goal (Pacemaker's rsc_state_matrix). */
function nextStep(from: Role, to: Role): Role {
  switch (from) {
    case 'Unknown': return to === 'Unknown' ? 'Unknown' : 'Stopped';
    case 'Stopped': return to === 'Unknown' || to === 'Stopped' ? 'Stopped' : to === 'Started' ? 'Started' : 'Unpromoted';
    case 'Started': return to === 'Unknown' || to === 'Stopped' ? 'Stopped' : to;
    case 'Unpromoted': return to === 'Unknown' || to === 'Stopped' || to === 'Started' ? 'Stopped' : to;
    case 'Promoted': return to === 'Unknown' ? 'Stopped' : to === 'Promoted' ? 'Promoted' : 'Unpromoted';
  }
}

function stop(ws: WorkingSet, rsc: Rsc, optional: boolean): void {
  for (const node of rsc.runningOn) {
    const s = customAction(ws, rsc, 'stop', node, optional);
    if (!rsc.allocatedTo) s.reason ??= 'node availability';
    if (!rsc.managed) s.runnable = false;
  }
}

function demote(ws: WorkingSet, rsc: Rsc, optional: boolean): void {
  for (const node of rsc.runningOn) {
    const d = customAction(ws, rsc, 'demote', node, optional);
    if (!rsc.managed) d.runnable = false;
  }
}

function start(ws: WorkingSet, rsc: Rsc, node: NodeInfo | undefined, optional: boolean): void {
  if (!node) return;
  const s = customAction(ws, rsc, 'start', node, true);
  if (!rsc.managed) s.runnable = false;
  if (s.runnable && !optional) s.optional = false;
}

function promote(ws: WorkingSet, rsc: Rsc, node: NodeInfo | undefined, optional: boolean): void {
  if (!node) return;
  // A promotion cannot happen where the start cannot.
  const startable = rsc.actions.filter((a) => a.task === 'start' && a.node === node).every((a) => a.runnable);
  if (startable) {
    const p = customAction(ws, rsc, 'promote', node, optional);
    if (!rsc.managed) p.runnable = false;
  } else {
    for (const p of rsc.actions.filter((a) => a.task === 'promote' && a.node === node)) p.runnable = false;
  }
}

/** Carries out one step of the role matrix. */
function step(ws: WorkingSet, rsc: Rsc, from: Role, to: Role, node: NodeInfo | undefined, optional: boolean): void {
  if (from === to) return;
  if (to === 'Stopped') stop(ws, rsc, optional);
  else if (from === 'Promoted') demote(ws, rsc, optional);
  else if (to === 'Promoted') promote(ws, rsc, node, optional);
  else if (from === 'Stopped') start(ws, rsc, node, optional);
  else if (from === 'Unpromoted' && to === 'Started') stop(ws, rsc, optional);
}

/** Actions taking a promotable instance from its current role and node to its next ones. */
export function createPromotableInstanceActions(ws: WorkingSet, rsc: Rsc): void {
  if (rsc.nextRole === 'Unknown') rsc.nextRole = rsc.allocatedTo ? 'Unpromoted' : 'Stopped';
  const current = rsc.runningOn[0];
  const chosen = rsc.allocatedTo;
  let needStop = false;
  let needPromote = false;
  if (rsc.runningOn.length > 1 && (rsc.multipleActive === 'stop_start' || rsc.multipleActive === 'stop_unexpected')) needStop = true;
  if (current && chosen && current !== chosen) {
    needStop = true;
  } else if (rsc.failed) {
    if (rsc.stopNeeded) needStop = true;
    else if (rsc.nextRole === 'Promoted') needPromote = true;
  } else if (rsc.blocked) {
    needStop = true;
  } else if (rank(rsc.role) > rank('Started') && current && chosen) {
    // A promoted or unpromoted instance whose start is required is restarted.
    const s = customAction(ws, rsc, 'start', chosen, true);
    if (!s.optional) needStop = true;
  }
  const stays = current !== undefined && chosen === current && rank(rsc.nextRole) >= rank('Started');
  if (!stays || needStop) for (const a of rsc.actions) if (a.task === 'reload-agent') a.optional = true;
  if (rsc.startPending && chosen && chosen === current && !needStop) customAction(ws, rsc, 'start', chosen, false);

  // Down to stopped (optionally), back up to the current role, then on to the next one.
  let role = rsc.role;
  while (role !== 'Stopped') {
    const next = nextStep(role, 'Stopped');
    step(ws, rsc, role, next, current, !needStop);
    role = next;
  }
  while (rank(rsc.role) <= rank(rsc.nextRole) && role !== rsc.role && !rsc.blocked) {
    const next = nextStep(role, rsc.role);
    const required = needStop || (next === 'Promoted' && needPromote);
    step(ws, rsc, role, next, chosen, !required);
    role = next;
  }
  role = rsc.role;
  while (role !== rsc.nextRole) {
    const next = nextStep(role, rsc.nextRole);
    step(ws, rsc, role, next, chosen, false);
    role = next;
  }
  createRoleRecurring(ws, rsc);
}

/** Recurring monitors for the role the instance will have; an active monitor of another role is cancelled. */
function createRoleRecurring(ws: WorkingSet, rsc: Rsc): void {
  if (rsc.blocked) return;
  const node = rsc.allocatedTo;
  if (node?.maintenance) return;
  let startAction: Action | undefined;
  if (node && (rsc.nextRole !== 'Stopped' || !rsc.managed)) {
    startAction = customAction(ws, rsc, 'start', node, true);
    if (!rsc.managed) startAction.runnable = false;
  }
  for (const op of rsc.ops) {
    if (op.intervalMs <= 0 || !op.enabled) continue;
    if (op.name !== 'monitor' && op.name !== 'status') continue;
    if (op.role === 'Stopped') continue;
    if (rsc.nextRole === 'Stopped' || !node) continue;
    // Two definitions of one name and interval are a configuration error: neither is used.
    if (rsc.ops.filter((o) => o.name === op.name && o.intervalMs === op.intervalMs).length > 1) continue;
    const key = opKey(rsc.id, op.name, op.intervalMs);
    const active = rsc.actions.some((a) => a.key === key && a.node === node);
    const optional = startAction !== undefined && startAction.optional && active && !rsc.reschedule.has(`${node.id}:${key}`);
    // A monitor for role Started never matches an instance's unpromoted or promoted role.
    const matches = op.role !== undefined ? op.role === rsc.nextRole : rsc.nextRole !== 'Promoted';
    if (!matches) {
      if (optional) {
        // Running in the old role: cancelled before the role changes.
        const cancel = customAction(ws, rsc, 'cancel', node, false, { intervalMs: op.intervalMs, key: `cancel-${key}`, label: `cancel=${op.intervalMs}` });
        cancel.expectedRc = 0;
        const afterTask = rsc.role === 'Promoted' ? 'demote' : rsc.nextRole === 'Promoted' ? 'promote' : undefined;
        if (afterTask) for (const a of rsc.actions.filter((x) => x.task === afterTask)) order(ws, cancel, a, { runnableLeft: true });
      }
      continue;
    }
    const mon = customAction(ws, rsc, op.name, node, optional, { intervalMs: op.intervalMs });
    if (rsc.nextRole === 'Promoted') mon.expectedRc = 8;
    // An unmanaged instance's start never runs, but its monitors do.
    if (startAction && !startAction.runnable && rsc.managed) mon.runnable = false;
    else if (!node.online || node.unclean) mon.runnable = false;
    if (rsc.managed) {
      for (const s of rsc.actions.filter((a) => a.task === 'start')) order(ws, s, mon, { impliesThen: true, runnableLeft: true });
      const roleTask = rsc.nextRole === 'Promoted' ? 'promote' : rsc.role === 'Promoted' ? 'demote' : undefined;
      if (roleTask) for (const a of rsc.actions.filter((x) => x.task === roleTask)) order(ws, a, mon, { runnableLeft: true });
    }
  }
}

/** Whether any instance has a required promote or demote. */
function changing(cl: GroupRsc, task: string): boolean {
  return cl.children.some((c) => c.actions.some((a) => a.task === task && !a.optional));
}

/**
 * The clone's promote/promoted/demote/demoted pseudo actions and the orderings
 * between them, the instances and the clone's start/stop pseudo actions.
 */
export function orderPromotable(ws: WorkingSet, cl: GroupRsc): void {
  const promoting = changing(cl, 'promote'), demoting = changing(cl, 'demote');
  const pseudo = (task: string, optional: boolean): Action => customAction(ws, undefined, task, undefined, optional, { group: cl, pseudo: true });
  // Pacemaker's creation order: promote, promoted, their notifications, demote, demoted, theirs.
  const cPromote = pseudo('promote', !promoting), cPromoted = pseudo('promoted', !promoting);
  const promoteNotify = cloneNotifyPseudoOps(ws, cl, 'promote', { a: cPromote, optional: !promoting }, { a: cPromoted, optional: !promoting, runnable: true });
  const cDemote = pseudo('demote', !demoting), cDemoted = pseudo('demoted', !demoting);
  const demoteNotify = cloneNotifyPseudoOps(ws, cl, 'demote', { a: cDemote, optional: !demoting }, { a: cDemoted, optional: !demoting, runnable: true });
  if (promoteNotify && demoteNotify) {
    // Notification rounds follow each other: demote, stop, start, promote.
    const round = (task: string) => cl.notifications?.find((n) => n.task === task);
    const stopN = round('stop'), startN = round('start');
    if (stopN?.postDone) order(ws, stopN.postDone, promoteNotify.pre!, {});
    if (startN?.postDone) order(ws, startN.postDone, promoteNotify.pre!, {});
    order(ws, demoteNotify.postDone!, promoteNotify.pre!, {});
    if (startN?.pre) order(ws, demoteNotify.postDone!, startN.pre, {});
    if (stopN?.pre) order(ws, demoteNotify.postDone!, stopN.pre, {});
  }
  const ca = (task: string): Action => cl.actions.find((a) => a.task === task)!;
  const cStart = ca('start'), cRunning = ca('running'), cStop = ca('stop'), cStopped = ca('stopped');
  // Restarts of the whole clone: promotions wait for stops, starts and demotions.
  order(ws, cStopped, cPromote, {});
  order(ws, cDemoted, cStop, {});
  order(ws, cDemoted, cStart, {});
  order(ws, cDemoted, cPromote, {});
  order(ws, cRunning, cPromote, { runnableLeft: true });
  order(ws, cDemote, cDemoted, {});
  for (const g of cl.instances ?? []) orderGroupInstanceRoles(ws, g, cPromote, cPromoted, cDemote, cDemoted);
  for (const c of cl.children) {
    // "Instance promote then clone promoted" is ordered by key: Pacemaker creates a missing
    // promote without a node (so never runnable), which the summary shows as blocked.
    if (!cl.instances && !c.orphan && !c.actions.some((a) => a.task === 'promote')) {
      const p = customAction(ws, c, 'promote', undefined, true);
      p.runnable = false;
    }
  }
  for (const c of cl.children) {
    const tasks = (t: string): Action[] => c.actions.filter((a) => a.task === t && a.intervalMs === 0);
    for (const d of tasks('demote')) for (const p of tasks('promote')) order(ws, d, p, {});
    if (!cl.instances) {
      for (const p of tasks('promote')) {
        order(ws, cPromote, p, { runnableLeft: true });
        order(ws, p, cPromoted, {});
      }
      for (const d of tasks('demote')) {
        order(ws, cDemote, d, {});
        order(ws, d, cDemoted, {});
      }
    }
    // Within an instance: started before promoted, demoted before stopped.
    for (const s of tasks('start')) for (const p of tasks('promote')) order(ws, s, p, { runnableLeft: true });
    for (const d of tasks('demote')) for (const s of tasks('stop')) order(ws, d, s, { impliesFirst: c.role === 'Promoted' });
  }
}

/**
 * A group instance's promote/demote pseudo actions stand between the clone's and the members'
 * (clone promote -> group promote -> members in order -> group promoted -> clone promoted;
 * demotions the same way, members in reverse order).
 */
function orderGroupInstanceRoles(ws: WorkingSet, g: GroupRsc, cPromote: Action, cPromoted: Action, cDemote: Action, cDemoted: Action): void {
  const ga = (task: string): Action | undefined => g.actions.find((a) => a.task === task);
  const [gPromote, gPromoted, gDemote, gDemoted] = [ga('promote'), ga('promoted'), ga('demote'), ga('demoted')];
  if (!gPromote || !gPromoted || !gDemote || !gDemoted) return;
  order(ws, cPromote, gPromote, { runnableLeft: true, requiredThenFirst: true });
  order(ws, gPromoted, cPromoted, { impliesThen: true });
  order(ws, cDemote, gDemote, { requiredThenFirst: true });
  order(ws, gDemoted, cDemoted, { impliesThen: true });
  order(ws, gDemote, gDemoted, {});
  order(ws, gPromote, gPromoted, { runnableLeft: true });
  const stopped = ga('stop'), running = ga('running');
  if (gDemoted && stopped) order(ws, gDemoted, stopped, {});
  if (running) order(ws, running, gPromote, { runnableLeft: true });
  const ordered = groupOrdered(ws, g);
  let prev: Rsc | undefined;
  for (const m of g.children) {
    const tasks = (r: Rsc, t: string): Action[] => r.actions.filter((a) => a.task === t && a.intervalMs === 0);
    for (const p of tasks(m, 'promote')) {
      order(ws, gPromote, p, { runnableLeft: true, requiredThenFirst: true });
      order(ws, p, gPromoted, { impliesThen: true });
      if (prev && ordered) for (const pp of tasks(prev, 'promote')) order(ws, pp, p, { runnableLeft: true });
    }
    for (const d of tasks(m, 'demote')) {
      order(ws, gDemote, d, { requiredThenFirst: true });
      order(ws, d, gDemoted, { impliesThen: true });
      if (prev && ordered) for (const pd of tasks(prev, 'demote')) order(ws, d, pd, {});
    }
    prev = m;
  }
}
