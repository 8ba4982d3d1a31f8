// Clones of groups at unpack time: which group instance an anonymous history
// entry belongs to (Pacemaker's find_anonymous_clone, for cloned groups).
import type { GroupRsc, Rsc } from '../working-set.js';
import type { NodeInfo } from './model.js';

/** A clone instance's name without its ":N" suffix. */
export function baseId(id: string): string {
  return id.replace(/:\d+$/, '');
}

/**
 * The member of a group instance that a node's history for `base` belongs to:
 * the instance already (partly) active on that node, else the first instance
 * active nowhere. A second history of the same member on a node, or no free
 * instance, leaves it an orphan (undefined).
 */
export function groupInstanceMember(clone: GroupRsc, node: NodeInfo, base: string): Rsc | undefined {
  let inactive: Rsc | undefined;
  let skipInactive = false;
  for (const inst of clone.instances ?? []) {
    const member = inst.children.find((c) => baseId(c.id) === base);
    const locations = new Set(inst.children.flatMap((c) => c.runningOn));
    if (locations.size > 0) {
      if (!locations.has(node) || !member) continue;
      if (member.runningOn.length > 0) {
        // Already active here under another history entry: this one is an orphan.
        skipInactive = true;
        continue;
      }
      return member;
    }
    if (!skipInactive && !inactive && !inst.children.some((c) => c.blocked)) inactive = member;
  }
  return skipInactive ? undefined : inactive;
}
