// Resources whose configuration changed since their history was recorded:
// the operation digests decide between a restart, an agent reload, or
// re-running a recurring monitor (Pacemaker's pcmk__handle_rsc_config_changes).
import { compareDigestsSanitized } from '../digest/op-digest.js';
import { clearFailCount, digestInput } from '../digest/rsc-digest.js';
import type { NodeInfo, OpRecord } from '../status/model.js';
import { activeOpIndexes, failCount } from '../status/unpack.js';
import { customAction, opKey, type Rsc, type WorkingSet } from '../working-set.js';

/** Probes, migrations and promotions ran with the parameters the start used. */
function taskForDigest(op: OpRecord): string {
  if (op.intervalMs === 0 && (op.task === 'monitor' || op.task === 'migrate_from' || op.task === 'promote')) return 'start';
  return op.task;
}

function canRunActions(node: NodeInfo): boolean {
  return node.online && !node.shutdown && !node.unclean && !node.standby && !node.maintenance && !node.pending;
}

/** A required start not yet bound to a node: wherever the resource starts next, it is restarted. */
function forceRestart(ws: WorkingSet, rsc: Rsc): void {
  const start = customAction(ws, rsc, 'start', undefined, false);
  start.reason ??= 'resource definition change';
}

/** Returns true when the operation's configuration changed and something was scheduled for it. */
function checkOp(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord): boolean {
  if (op.intervalMs > 0 && !rsc.ops.some((o) => o.name === op.task && o.intervalMs === op.intervalMs && o.enabled)) {
    // An orphaned recurring op is cancelled elsewhere.
    return true;
  }
  const task = taskForDigest(op);
  const result = compareDigestsSanitized(digestInput(ws, rsc, task, op.intervalMs), op);
  if (result === 'match') return false;
  if (result === 'restart' || (op.intervalMs === 0 && op.restartDigest === undefined)) {
    forceRestart(ws, rsc);
  } else if (op.intervalMs > 0) {
    rsc.reschedule.add(`${node.id}:${opKey(rsc.id, op.task, op.intervalMs)}`);
  } else if (rsc.startPending) {
    // A start still in flight cannot be reloaded: restart instead.
    customAction(ws, rsc, 'stop', node, false);
  } else {
    customAction(ws, rsc, 'reload-agent', node, false);
  }
  return true;
}

function agentChanged(rsc: Rsc, recorded: string | undefined): boolean {
  return recorded !== undefined && recorded !== `${rsc.def.class}:${rsc.def.provider ?? ''}:${rsc.def.type}`;
}

interface HistoryEntry { readonly name: string; readonly ops: OpRecord[]; readonly agent?: string }

export function handleConfigChanges(ws: WorkingSet): void {
  // Resources by the names their history may be recorded under (a clone instance also by its clone name).
  const byName = new Map<string, Rsc[]>();
  const known = (name: string, rsc: Rsc): void => {
    const list = byName.get(name);
    if (!list) byName.set(name, [rsc]);
    else if (!list.includes(rsc)) list.push(rsc);
  };
  for (const rsc of ws.rscs) {
    known(rsc.id, rsc);
    if (rsc.cloneName !== undefined) known(rsc.cloneName, rsc);
  }
  for (const node of ws.nodes) {
    if (!canRunActions(node)) continue;
    const entries: HistoryEntry[] = [];
    for (const r of ws.rscs) {
      const ops = r.history.get(node.id);
      if (ops && ops.length > 0) entries.push({ name: r.historyName?.get(node.id) ?? r.id, ops, agent: r.historyAgent?.get(node.id) });
    }
    for (const entry of entries) {
      // As Pacemaker does, a history entry is checked against every resource known by its name.
      for (const rsc of byName.get(entry.name) ?? []) {
        if (rsc.orphan) {
          // An orphan's history is cleaned up (an anonymous clone instance's is left alone).
          if (rsc.managed && !(rsc.cloneOf && !rsc.cloneOf.clone!.unique)) customAction(ws, rsc, 'delete', node, false);
          continue;
        }
        checkHistory(ws, rsc, node, entry);
      }
    }
  }
}

function checkHistory(ws: WorkingSet, rsc: Rsc, node: NodeInfo, entry: HistoryEntry): void {
  const ops = entry.ops;
  const active = rsc.runningOn.includes(node);
  if (agentChanged(rsc, entry.agent)) {
    // The old agent's history is cleaned up; a running instance is restarted with the new one.
    if (active) {
      customAction(ws, rsc, 'stop', node, false);
      rsc.startPending = true;
    }
    customAction(ws, rsc, 'delete', node, false);
    // The old history goes with it: its digests no longer matter.
    return;
  }
  if (!active) return;
  const { start, stop } = activeOpIndexes(ops);
  if (start < stop) return;
  ops.forEach((op, i) => {
    if (i < start) return;
    if (op.intervalMs === 0 && !['monitor', 'start', 'promote', 'migrate_from'].includes(op.task)) return;
    if (checkOp(ws, rsc, node, op) && failCount(ws, rsc, node, true) !== 0) {
      clearFailCount(ws, rsc, node, 'action definition changed');
    }
  });
}

/** Fail counts of resources no longer configured are cleared wherever they are (Pacemaker's clear_failcounts_if_orphaned). */
export function clearOrphanFailCounts(ws: WorkingSet): void {
  if (!ws.config.options.stopOrphanResources) return;
  for (const rsc of ws.rscs) {
    if (!rsc.orphan) continue;
    for (const node of ws.nodes) {
      if (!node.online || failCount(ws, rsc, node, true) === 0) continue;
      clearFailCount(ws, rsc, node, 'it is orphaned');
    }
  }
}
