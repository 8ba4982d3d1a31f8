// Digest inputs for one resource of the working set, and the fail-count
// clearing that a changed definition triggers.
import { flattenSets } from '../cib/parse.js';
import type { NodeInfo } from '../status/model.js';
import { customAction, type Rsc, type WorkingSet } from '../working-set.js';
import type { DigestInput } from './op-digest.js';

export function digestInput(ws: WorkingSet, rsc: Rsc, task: string, intervalMs: number): DigestInput {
  const opDef = rsc.ops.find((o) => o.name === task && o.intervalMs === intervalMs);
  return { params: rsc.def.params, opDef, opDefaults: flattenSets(ws.config.opDefaults, {}), fenceDevice: rsc.def.class === 'stonith' };
}

export function clearFailCount(ws: WorkingSet, rsc: Rsc, node: NodeInfo, reason: string): void {
  const c = customAction(ws, rsc, 'clear_failcount', node, false, { key: `${rsc.id}_clear_failcount_0`, label: 'clear_failcount' });
  c.reason ??= reason;
  c.expectedRc = 0;
}

/** A fail count that is about to be cleared does not keep the resource away (Pacemaker's failcount_clear_action_exists). */
export function failCountBeingCleared(rsc: Rsc, node: NodeInfo): boolean {
  return rsc.actions.some((a) => a.task === 'clear_failcount' && a.node === node);
}
