// `safeside quorum` output: the text of `corosync-quorumtool -s` (tools/corosync-quorumtool.c,
// corosync 3.1) and its JSON sibling. Pure: the date comes in with the input.

import type { ClusterConfig, Membership, NodeId, QuorumStatus } from './types.js';
import { ARBITER_NODE_ID, formatRingId } from './types.js';

export interface QuorumReportInput {
  config: ClusterConfig;
  /** The local node (marked " (local)"). */
  self: NodeId;
  status: QuorumStatus;
  /** The current agreed membership, or null before the first one. */
  membership: Membership | null;
  /** Printed after `Date:`; a Date is printed the way ctime(3) does, a string as given. */
  date: string | Date;
  /** `Quorum provider:`; corosync's own name unless told otherwise, for scripts that grep it. */
  provider?: string;
}

/** The arbiter's row name; corosync-qdevice registers itself as "Qdevice". */
const ARBITER_NAME = 'Qdevice';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** ctime(3) without its newline, in the Date's local time: "Tue Nov 24 18:55:57 2026". */
export function ctimeString(d: Date): string {
  const day = String(d.getDate()).padStart(2, ' ');
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return `${WEEKDAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day} ${time} ${d.getFullYear()}`;
}

/** quorumtool's columns: right-aligned in 10, then a space. */
const cell = (text: string | number): string => `${String(text).padStart(10, ' ')} `;
/** Labels are padded to column 18. */
const field = (label: string, value: string | number): string => `${`${label}:`.padEnd(18, ' ')}${value}`;

interface Row {
  nodeId: NodeId;
  name: string;
  votes: number;
}

function rows(input: QuorumReportInput): Row[] {
  const ids = input.membership?.members ?? [];
  return ids.map((id) => {
    const node = input.config.nodes.find((n) => n.nodeId === id);
    return { nodeId: id, name: node?.name ?? `node${id}`, votes: node?.votes ?? 0 };
  });
}

function membershipTable(input: QuorumReportInput): string[] {
  const arbiter = input.config.arbiter;
  const present = input.membership?.arbiterPresent ?? false;
  // We only know the local node's view of the arbiter, and show it on every row.
  // quorumtool formats this into char[10] with a size of 9: at most 8 characters survive
  // ("NA,NV,NMW" prints as "NA,NV,NM").
  const qdevice = `${present ? 'A' : 'NA'},${present ? 'V' : 'NV'},NMW`.slice(0, 8);
  const lines = [`${cell('Nodeid')}${cell('Votes')}${arbiter ? cell('Qdevice') : ''}Name`];
  for (const r of rows(input)) {
    const local = r.nodeId === input.self ? ' (local)' : '';
    lines.push(`${cell(r.nodeId)}${cell(r.votes)}${arbiter ? cell(qdevice) : ''}${r.name}${local}`);
  }
  if (arbiter) {
    // As quorumtool: the device's votes show as 0 where it does not count, with the configured votes after the name.
    const votes = present ? arbiter.votes : 0;
    const suffix = present ? '' : ` (votes ${arbiter.votes})`;
    lines.push(`${cell(ARBITER_NODE_ID)}${cell(votes)}${' '.repeat(11)}${ARBITER_NAME}${suffix}`);
  }
  return lines;
}

/** The text of `corosync-quorumtool -s`, ending in a newline. */
export function formatQuorumtool(input: QuorumReportInput): string {
  const { status, membership } = input;
  const date = typeof input.date === 'string' ? input.date : ctimeString(input.date);
  const ring = membership ? formatRingId(membership.ringId) : '0.0';
  const lines = [
    'Quorum information',
    '------------------',
    field('Date', date),
    field('Quorum provider', input.provider ?? 'corosync_votequorum'),
    field('Nodes', membership?.members.length ?? 0),
    field('Node ID', input.self),
    field('Ring ID', ring),
    field('Quorate', status.quorate ? 'Yes' : 'No'),
    '',
    'Votequorum information',
    '----------------------',
    field('Expected votes', status.expectedVotes),
    field('Highest expected', status.highestExpected),
    field('Total votes', status.totalVotes),
    field('Quorum', `${status.quorum} ${status.quorate ? ' ' : 'Activity blocked'}`),
    field('Flags', status.flags.map((f) => `${f} `).join('')),
    '',
    'Membership information',
    '----------------------',
    ...membershipTable(input),
  ];
  return `${lines.join('\n')}\n`;
}

export interface QuorumJson {
  quorate: boolean;
  'ring-id': string | null;
  /** Member node names, ascending by node id. */
  members: string[];
  'expected-votes': number;
  'total-votes': number;
  quorum: number;
  flags: string[];
  'node-id': NodeId;
  nodes: { id: NodeId; name: string; votes: number }[];
}

/** `safeside quorum --json`. */
export function quorumJson(input: QuorumReportInput): QuorumJson {
  const members = rows(input);
  return {
    quorate: input.status.quorate,
    'ring-id': input.membership ? formatRingId(input.membership.ringId) : null,
    members: members.map((r) => r.name),
    'expected-votes': input.status.expectedVotes,
    'total-votes': input.status.totalVotes,
    quorum: input.status.quorum,
    flags: [...input.status.flags],
    'node-id': input.self,
    nodes: members.map((r) => ({ id: r.nodeId, name: r.name, votes: r.votes })),
  };
}

/** corosync-quorumtool's exit status: 0 quorate, 2 (EXIT_NOT_QUORATE) not. */
export const quorumExitCode = (status: QuorumStatus): number => (status.quorate ? 0 : 2);
