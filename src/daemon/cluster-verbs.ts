// Control-socket verbs of the cluster engine: quorum, members, group join/leave/send/log.
// Returns null for verbs that are not the cluster's, so the volume handler gets them.

import type { ControlReply, ControlRequest } from '../runtime/control-socket.js';
import type { ClusterNode } from '../runtime/cluster/node.js';
import type { ClusterConfig } from '../cluster/types.js';
import { formatRingId } from '../cluster/types.js';
import { formatQuorumtool, quorumJson } from '../cluster/quorum-format.js';

const clusterVerbs = new Set(['quorum', 'members', 'group-join', 'group-leave', 'group-send', 'group-log']);

/** Corosync-quorumtool's exit codes: 0 quorate, 2 not quorate, 1 error. */
const EXIT_NOT_QUORATE = 2;

const reply = (exitCode: number, stdout: string, stderr = ''): ControlReply => ({ exitCode, stdout, stderr });

export async function clusterVerb(
  node: ClusterNode | null,
  config: ClusterConfig | null,
  req: ControlRequest,
): Promise<ControlReply | null> {
  if (!clusterVerbs.has(req.verb)) return null;
  if (!node || !config) {
    return reply(1, '', `${req.verb}: this daemon runs without a cluster; start it with 'safeside daemon --cluster corosync.conf --node NAME'\n`);
  }
  switch (req.verb) {
    case 'quorum':
      return quorumVerb(node, config, req.options.json === true);
    case 'members':
      return membersVerb(node, config, req.options.json === true);
    case 'group-join':
    case 'group-leave':
    case 'group-send':
      return groupCall(node, req);
    case 'group-log':
      return groupLogVerb(node, req);
  }
  return null;
}

function quorumVerb(node: ClusterNode, config: ClusterConfig, json: boolean): ControlReply {
  const view = node.view();
  const input = {
    config,
    self: node.selfId,
    status: view.quorum,
    membership: view.membership,
    date: new Date(),
  };
  const code = view.quorum.quorate ? 0 : EXIT_NOT_QUORATE;
  if (json) return reply(code, JSON.stringify(quorumJson(input), null, 2) + '\n');
  return reply(code, formatQuorumtool(input));
}

function membersVerb(node: ClusterNode, config: ClusterConfig, json: boolean): ControlReply {
  const view = node.view();
  const transport = node.transportStatus();
  const members = new Set(view.membership?.members ?? []);
  const nodes = config.nodes.map((n) => ({
    nodeid: n.nodeId,
    name: n.name,
    votes: n.votes,
    member: members.has(n.nodeId),
    local: n.nodeId === node.selfId,
    links: transport.links
      .filter((l) => l.node === n.nodeId)
      .map((l) => ({ link: l.link, up: l.up, rttMs: l.rttMs === null ? null : Math.round(l.rttMs * 1000) / 1000 })),
  }));
  if (json) {
    const out = {
      'ring-id': view.membership ? formatRingId(view.membership.ringId) : null,
      leader: view.leader === null ? null : node.nameOf(view.leader),
      term: view.term,
      role: view.role,
      quorate: view.quorate,
      members: [...members].map((id) => node.nameOf(id)),
      'arbiter-present': view.membership?.arbiterPresent ?? false,
      nodes,
      counters: transport.counters,
    };
    return reply(0, JSON.stringify(out, null, 2) + '\n');
  }
  const lines = ['Membership information', '----------------------'];
  lines.push(`${'Ring ID:'.padEnd(18)}${view.membership ? formatRingId(view.membership.ringId) : '(none agreed yet)'}`);
  lines.push(`${'Leader:'.padEnd(18)}${view.leader === null ? '(none)' : `${node.nameOf(view.leader)} (term ${view.term})`}`);
  lines.push(`${'Quorate:'.padEnd(18)}${view.quorate ? 'Yes' : 'No'}`);
  if (config.arbiter) lines.push(`${'Arbiter:'.padEnd(18)}${view.membership?.arbiterPresent ? 'vote counts' : 'not in the membership'}`);
  lines.push('', `${'Nodeid'.padStart(10)} ${'Votes'.padStart(10)} ${'Member'.padStart(10)} Name`);
  for (const n of nodes) {
    const linkText = n.local ? ' (local)' : '';
    lines.push(`${String(n.nodeid).padStart(10)} ${String(n.votes).padStart(10)} ${(n.member ? 'yes' : 'no').padStart(10)} ${n.name}${linkText}`);
  }
  const linkLines = nodes
    .filter((n) => !n.local)
    .map((n) => `  ${n.name}: ${n.links.map((l) => `link${l.link} ${l.up ? 'up' : 'down'}${l.up && l.rttMs !== null ? ` (rtt ${l.rttMs.toFixed(2)} ms)` : ''}`).join(', ') || 'no links'}`);
  if (linkLines.length > 0) lines.push('', 'Links', ...linkLines);
  return reply(0, lines.join('\n') + '\n');
}

function groupCall(node: ClusterNode, req: ControlRequest): ControlReply {
  const group = req.args[0];
  if (!group) return reply(3, '', `${req.verb}: a group name is required\n`);
  if (Buffer.byteLength(group) > 128) return reply(3, '', `${req.verb}: group name '${group.slice(0, 40)}…' is longer than 128 bytes\n`);
  if (req.verb === 'group-join') node.joinGroup(group);
  else if (req.verb === 'group-leave') node.leaveGroup(group);
  else {
    const payload = req.args[1];
    if (payload === undefined) return reply(3, '', 'group send: a message is required\n');
    node.sendToGroup(group, payload);
  }
  return reply(0, '');
}

function groupLogVerb(node: ClusterNode, req: ControlRequest): ControlReply {
  const group = req.args[0];
  if (!group) return reply(3, '', 'group log: a group name is required\n');
  const entries = node.groupLog(group);
  if (req.options.json === true) return reply(0, JSON.stringify(entries) + '\n');
  const lines = entries.map((e) =>
    e.kind === 'message'
      ? `${e.ringId} #${e.seq} ${e.from}: ${e.payload}`
      : `confchg members: ${e.members.join(' ') || '-'} joined: ${e.joined.join(' ') || '-'} left: ${e.left.join(' ') || '-'}`,
  );
  return reply(0, lines.join('\n') + (lines.length ? '\n' : ''));
}
