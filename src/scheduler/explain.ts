// Plain-words account of why a resource goes where it goes.
import { nodeAvailable } from './placement/assign.js';
import { formatScore } from './score.js';
import type { WorkingSet } from './working-set.js';

export function explainResource(ws: WorkingSet, rscId: string): string[] {
  const rsc = ws.rscs.find((r) => r.id === rscId);
  if (!rsc) return [`No primitive resource named "${rscId}" (known: ${ws.rscs.map((r) => r.id).join(', ') || 'none'})`];
  const lines: string[] = [`Why ${rsc.id} goes where it goes:`];
  const now = rsc.runningOn.map((n) => n.uname).join(', ');
  lines.push(`  now: ${now ? `${rsc.role} on ${now}` : 'stopped'}${rsc.failed ? ' (failed)' : ''}${rsc.managed ? '' : ' (unmanaged: the scheduler leaves it alone)'}`);
  lines.push(`  next: ${rsc.allocatedTo ? `${rsc.nextRole} on ${rsc.allocatedTo.uname}` : `${rsc.nextRole}${rsc.nextRoleReason ? ` (${rsc.nextRoleReason})` : ''}`}`);
  lines.push('  final scores (highest available wins; ties go to fewer assigned resources, then the current node, then node name):');
  for (const n of ws.nodes) {
    const s = rsc.allowed.get(n.id);
    if (s === undefined) continue;
    const why = nodeAvailable(n) ? '' : ` (node cannot run resources: ${!n.online ? 'offline' : n.unclean ? 'unclean' : n.standby ? 'standby' : n.maintenance ? 'maintenance' : 'shutting down'})`;
    lines.push(`    ${n.uname}: ${formatScore(s)}${why}`);
  }
  lines.push('  where the scores came from:');
  for (const e of rsc.scoreLog) {
    if (e.delta === 0 && !e.why.startsWith('symmetric')) continue;
    lines.push(`    ${e.node}: ${e.delta >= 0 ? '+' : ''}${formatScore(e.delta)}  ${e.why}`);
  }
  return lines;
}
