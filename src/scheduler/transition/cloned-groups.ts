// Actions of a clone of a group: the clone's pseudo actions wrap each group
// instance's own pseudo actions, which wrap the members' (clone start ->
// grp:N start -> members -> grp:N running -> clone running; likewise for stops).
import { order, type Action, type GroupRsc, type WorkingSet } from '../working-set.js';

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
