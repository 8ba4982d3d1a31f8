// A start (or promote) that becomes unrunnable blocks the resources that must
// run with it (mandatory colocation), after Pacemaker's
// pcmk__block_colocation_dependents: for an instance of a clone (or a group
// member) only once no instance (member) can do that action any more.
import type { Colocation } from '../placement/colocation.js';
import type { Action, Rsc, WorkingSet } from '../working-set.js';

const INFINITY = 1_000_000;

/** Tracks starts and promotes that were runnable, to react when one becomes unrunnable. */
export class ColocationBlocker {
  private readonly watched: Set<Action>;

  constructor(private readonly ws: WorkingSet, private readonly colocations: readonly Colocation[]) {
    this.watched = new Set(ws.actions.filter((a) => a.rsc && a.runnable && (a.task === 'start' || a.task === 'promote')));
  }

  /** Blocks dependents of every watched action that turned unrunnable; returns whether anything changed. */
  apply(): boolean {
    let changed = false;
    for (const a of [...this.watched]) {
      if (a.runnable) continue;
      this.watched.delete(a);
      if (this.blockDependents(a)) changed = true;
    }
    return changed;
  }

  private blockDependents(action: Action): boolean {
    const rsc = action.rsc!;
    const collective = rsc.cloneOf ?? rsc.group;
    // Colocation fails only if the whole primary cannot reach its role.
    if (collective) {
      for (const c of collective.children) {
        const ca = c.actions.find((x) => x.task === action.task);
        if (!ca || ca.runnable) return false;
      }
    }
    const members = collective ? new Set<Rsc>(collective.children) : new Set<Rsc>([rsc]);
    let changed = false;
    for (const col of this.colocations) {
      if (col.score < INFINITY || !members.has(col.primary)) continue;
      if (action.task !== 'start' && col.primaryRole !== 'Promoted') continue;
      const task = col.dependentRole === 'Promoted' ? 'promote' : 'start';
      const targets = col.dependent.cloneOf ? col.dependent.cloneOf.children : [col.dependent];
      for (const dep of targets) {
        for (const a of dep.actions) {
          if (!a.runnable || a.task !== task) continue;
          a.runnable = false;
          a.reason ??= `colocation with ${rsc.id}`;
          this.watched.add(a);
          changed = true;
        }
      }
    }
    return changed;
  }
}
