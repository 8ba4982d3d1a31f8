// "Transition Summary:" lines (Pacemaker's rsc_action_default / rsc_action_item).
import type { NodeInfo } from '../status/model.js';
import type { Action, Rsc, WorkingSet } from '../working-set.js';

function item(change: string, rsc: Rsc, origin: NodeInfo | undefined, dest: NodeInfo | undefined, action: Action, source?: Action): string {
  const src = source ?? action;
  let details: string;
  const needRole = rank(rsc.role) > rank('Started') || rank(rsc.nextRole) > rank('Unpromoted');
  const sameHost = origin !== undefined && dest !== undefined && origin === dest;
  const sameRole = rsc.role === rsc.nextRole;
  if (needRole && !origin) details = `${rsc.role} -> ${rsc.nextRole} ${dest!.uname}`;
  else if (!origin) details = dest!.uname;
  else if (needRole && !dest) details = `${rsc.role} ${origin.uname}`;
  else if (!dest) details = origin.uname;
  else if (needRole && sameRole && sameHost) details = `${rsc.role} ${origin.uname}`;
  else if (sameRole && sameHost) details = origin.uname;
  else if (needRole && sameRole) details = `${origin.uname} -> ${dest.uname} ${rsc.role}`;
  else if (sameRole) details = `${origin.uname} -> ${dest.uname}`;
  else if (sameHost) details = `${rsc.role} -> ${rsc.nextRole} ${origin.uname}`;
  else details = `${rsc.role} ${origin.uname} -> ${rsc.nextRole} ${dest.uname}`;
  let reason = '';
  if (src.reason && !action.runnable) reason = `due to ${src.reason} (blocked)`;
  else if (src.reason) reason = `due to ${src.reason}`;
  else if (!action.runnable) reason = 'blocked';
  return `  * ${change.padEnd(8)}   ${rsc.id.padEnd(Math.max(5, rsc.id.length))}   ( ${details} )${reason ? '  ' + reason : ''}`;
}

function rank(r: string): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

function find(rsc: Rsc, task: string, node: NodeInfo | undefined): Action | undefined {
  return rsc.actions.find((a) => a.task === task && a.intervalMs === 0 && (node === undefined || a.node === node));
}

export function summarizeResource(rsc: Rsc): string[] {
  const current = rsc.runningOn[0];
  const next = rsc.allocatedTo;
  if (!rsc.managed || (!current && !next)) return [];
  const moving = current !== undefined && next !== undefined && current !== next;
  const start = next ? find(rsc, 'start', next) : undefined;
  const startNode = !start || !start.runnable ? undefined : current;
  let stop = startNode ? find(rsc, 'stop', startNode) : rsc.actions.find((a) => a.task === 'stop');
  if (startNode === undefined) stop = rsc.actions.find((a) => a.task === 'stop');
  const out: string[] = [];
  if (rsc.role === rsc.nextRole) {
    if (!next) return [];
    const reload = find(rsc, 'reload-agent', next);
    if ((!start || start.optional) && reload && !reload.optional && reload.runnable) return [item('Reload', rsc, current, next, reload)];
    if (!start || start.optional) {
      const promote = find(rsc, 'promote', next), demote = find(rsc, 'demote', next);
      if (promote && demote && !promote.optional && !demote.optional) return [item('Re-promote', rsc, current, next, promote, demote)];
      return [];
    }
    if (!start.runnable) {
      out.push(item('Stop', rsc, current, undefined, stop ?? start, stop?.reason ? stop : start));
    } else if (moving && current) {
      out.push(item(rsc.failed ? 'Recover' : 'Move', rsc, current, next, stop ?? start));
    } else if (rsc.failed) {
      // Recovered in place while stopped elsewhere (multiple-active=stop_unexpected): the stop's reason.
      out.push(item('Recover', rsc, current, undefined, stop ?? start, stop ?? rsc.actions.find((a) => a.task === 'stop' && a.reason)));
    } else if (!(rsc.startPending && current === next && (!stop || stop.optional))) {
      out.push(item('Restart', rsc, current, next, start));
    }
    return out;
  }
  if (stop && (rsc.nextRole === 'Stopped' || (start && !start.runnable))) {
    for (const node of rsc.runningOn) {
      const s = find(rsc, 'stop', node);
      if (!s) continue;
      out.push(item('Stop', rsc, node, undefined, s, s.reason ? s : start));
    }
  } else if (stop && rsc.failed && rsc.stopNeeded) {
    out.push(item('Recover', rsc, current, next, stop, start));
  } else if (moving) {
    out.push(item('Move', rsc, current, next, stop!));
  } else if (stop && !stop.optional && rsc.role !== 'Stopped') {
    out.push(item('Restart', rsc, current, next, start ?? stop));
  } else if (rsc.role === 'Promoted' && current) {
    const demote = find(rsc, 'demote', next ?? current) ?? find(rsc, 'demote', undefined);
    if (demote) out.push(item('Demote', rsc, current, next, demote));
  } else if (rsc.nextRole === 'Promoted' && next) {
    const promote = find(rsc, 'promote', next) ?? rsc.actions.find((a) => a.task === 'promote' && !a.node);
    if (promote) out.push(item('Promote', rsc, current, next, promote));
  } else if (start && (!start.optional || (rsc.role === 'Stopped' && rank(rsc.nextRole) > rank('Stopped')))) {
    // A start from stopped is listed even when it cannot happen (then blocked).
    out.push(item('Start', rsc, current, next, start));
  }
  return out;
}

export function formatTransitionSummary(ws: WorkingSet): string[] {
  const lines: string[] = [];
  // Pacemaker keeps its action list newest first.
  for (const n of [...ws.actions].reverse()) {
    if (n.task === 'stonith' && n.fenceTarget && !n.optional) lines.push(`  * Fence (${n.fenceAction}) ${n.fenceTarget.uname} '${n.reason ?? 'node is unclean'}'`);
  }
  for (const rsc of ws.rscs) lines.push(...summarizeResource(rsc));
  return lines;
}
