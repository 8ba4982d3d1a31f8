// Actions of a clone of a group: the clone's pseudo actions wrap each group
// instance's own pseudo actions, which wrap the members' (clone start ->
// grp:N start -> members -> grp:N running -> clone running; likewise for stops).
import type { NodeInfo } from '../status/model.js';
import { order, type Action, type GroupRsc, type WorkingSet } from '../working-set.js';

/**
 * The group instance an anonymous cloned group is probed through on a node: the one
 * with history there, else the one assigned there, else the first; its members
 * without history there are probed.
 */
export function probedGroupInstance(cl: GroupRsc, node: NodeInfo): GroupRsc | undefined {
  const instances = cl.instances ?? [];
  return instances.find((g) => g.children.some((c) => c.knownOn.has(node.id))) ??
    instances.find((g) => g.children[0]?.allocatedTo === node) ?? instances[0];
}

export function orderGroupInstances(ws: WorkingSet, cl: GroupRsc, cStart: Action, cRunning: Action, cStop: Action, cStopped: Action): void {
  for (const g of cl.instances ?? []) {
    const ga = (task: string): Action | undefined => g.actions.find((a) => a.task === task);
    const [gStart, gRunning, gStop, gStopped] = [ga('start'), ga('running'), ga('stop'), ga('stopped')];
    if (gStart) order(ws, cStart, gStart, { runnableLeft: true, requiredThenFirst: true });
    if (gRunning) order(ws, gRunning, cRunning, { impliesThen: true });
    if (gStop) order(ws, cStop, gStop, { requiredThenFirst: true });
    if (gStopped) order(ws, gStopped, cStopped, { impliesThen: true });
  }
}

/** A group's "ordered" meta attribute (default true); a cloned group inherits its clone's. */
export function groupOrdered(ws: WorkingSet, g: GroupRsc): boolean {
  const base = g.cloneOf ? g.id.replace(/:\d+$/, '') : g.id;
  let meta: Readonly<Record<string, string>> = {};
  for (const r of ws.config.resources) {
    if (r.kind === 'group' && r.id === base) meta = r.meta;
    else if (r.kind === 'clone' && r.child.kind === 'group' && r.child.id === base) meta = { ...r.meta, ...r.child.meta };
  }
  const v = meta['ordered'];
  return v === undefined || /^(true|yes|on|y|1)$/i.test(v);
}
