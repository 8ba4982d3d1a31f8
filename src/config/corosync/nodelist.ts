// The nodelist: every node needs a nonzero nodeid and ring0_addr (knet's rules, which
// `corosync -t` checks), plus what our engine needs on top: an address for every node, not
// only the local one, names that pick one node, and links numbered without gaps.

import type { ClusterNode } from '../../cluster/types.js';
import type { CorosyncSection } from './tree.js';
import type { Transport } from './totem.js';
import { ConfigView } from './view.js';

/** corosync's INTERFACE_MAX: ring0_addr .. ring7_addr. */
export const LINKS_MAX = 8;
/** knet keeps node ids in 16 bits. */
export const KNET_NODE_ID_LIMIT = 65536;

export interface ConfiguredNode extends ClusterNode {
  /** Line of the node's `node {`. */
  line: number;
  /** Whether `name` was written (multi-link configurations need it). */
  named: boolean;
}

const isIPv4 = (s: string): boolean => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
};
/** Enough of RFC 4291 to tell an IPv6 literal from a host name (which never holds ':'). */
const isIPv6 = (s: string): boolean => s.includes(':') && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(s);
const family = (addr: string): 'ipv4' | 'ipv6' | 'name' => (isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : 'name');

export function readNodes(v: ConfigView, transport: Transport): ConfiguredNode[] {
  // corosync parses node addresses for this family: ipv4 or ipv6 only, or either (ipv6-4, the default; udp: ipv4).
  const ipVersion = v.str('totem.ip_version') ?? (transport === 'udp' ? 'ipv4' : 'ipv6-4');
  const lists = v.sections('nodelist');
  if (lists.length > 1) {
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      lists[1]!.line,
      `a second nodelist section (the first is at line ${lists[0]!.line}): corosync would number its nodes again from 0, over the first list's; put all nodes in one nodelist`,
    );
  }
  const nodeSections = v.sections('nodelist.node');
  if (nodeSections.length === 0) {
    v.fail(
      'COROSYNC_CONF_MISSING',
      lists[0]?.line ?? 0,
      `No interfaces defined: ${lists.length === 0 ? 'there is no nodelist section' : 'the nodelist has no node sections'}; list every node as node { ring0_addr: ADDRESS  nodeid: N }`,
    );
  }
  const nodes = nodeSections.map((s) => readNode(v, s, transport));
  checkLinks(v, nodes, ipVersion);
  checkUnique(v, nodes);
  return nodes;
}

function readNode(v: ConfigView, s: CorosyncSection, transport: Transport): ConfiguredNode {
  const key = (k: string): string => `${s.cmapPrefix}.${k}`;
  const ring0 = v.str(key('ring0_addr'));
  if (ring0 === null) {
    v.fail(
      'COROSYNC_CONF_MISSING',
      s.line,
      'node has no ring0_addr: every node needs the address of its first link (ring0_addr: ADDRESS), not only the local one',
    );
  }
  if (ring0 === '') v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key('ring0_addr')), 'ring0_addr is empty; expected an IP address or host name');
  const nodeId = v.int(key('nodeid'));
  if (nodeId === null || nodeId === 0) {
    const found = nodeId === null ? 'the node has no nodeid' : 'nodeid 0 is reserved for the quorum device';
    v.fail(
      nodeId === null ? 'COROSYNC_CONF_MISSING' : 'COROSYNC_CONF_BAD_VALUE',
      v.lineOf(key('nodeid')) || s.line,
      `Knet requires an explicit nodeid to be specified for address '${ring0}'. (${found}; expected nodeid: 1..${KNET_NODE_ID_LIMIT - 1}${transport === 'knet' ? '' : `, also with transport ${transport}`})`,
    );
  }
  if (nodeId >= KNET_NODE_ID_LIMIT) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key('nodeid')), `Knet requires nodeid to be less than ${KNET_NODE_ID_LIMIT} for address '${ring0}'. (nodeid is ${nodeId})`);
  }
  const addresses: string[] = [];
  for (let link = 0; link < LINKS_MAX; link++) {
    const addr = v.str(key(`ring${link}_addr`));
    if (addr === null) continue;
    if (addr === '') v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key(`ring${link}_addr`)), `ring${link}_addr is empty; expected an IP address or host name`);
    if (addresses.length !== link) {
      v.fail(
        'COROSYNC_CONF_UNSUPPORTED',
        v.lineOf(key(`ring${link}_addr`)),
        `ring${link}_addr without ring${addresses.length}_addr: links must be numbered from 0 without gaps`,
      );
    }
    addresses.push(addr);
  }
  const name = v.str(key('name'));
  if (name === '') v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key('name')), 'name is empty; leave it out to use ring0_addr as the name');
  return { nodeId, name: name ?? ring0, addresses, votes: v.int(key('quorum_votes')) ?? 1, line: s.line, named: name !== null };
}

function checkLinks(v: ConfigView, nodes: ConfiguredNode[], ipVersion: string): void {
  const links = Math.max(...nodes.map((n) => n.addresses.length));
  if (links > 1) {
    const unnamed = nodes.find((n) => !n.named);
    if (unnamed) v.fail('COROSYNC_CONF_MISSING', unnamed.line, "for a multi-link configuration, all nodes must have a 'name' attribute");
    const short = nodes.find((n) => n.addresses.length !== links);
    if (short) {
      const full = nodes.find((n) => n.addresses.length === links)!;
      v.fail(
        'COROSYNC_CONF_CONFLICT',
        short.line,
        `Not all nodes have the same number of links (${short.name} has ${short.addresses.length}, ${full.name} has ${links})`,
      );
    }
  }
  const only = ipVersion === 'ipv4' ? 'ipv4' : ipVersion === 'ipv6' ? 'ipv6' : null;
  for (const n of nodes) {
    const wrong = only === null ? -1 : n.addresses.findIndex((a) => family(a) !== 'name' && family(a) !== only);
    if (wrong >= 0) {
      v.fail(
        'COROSYNC_CONF_CONFLICT',
        v.lineOf(`nodelist.node.${nodes.indexOf(n)}.ring${wrong}_addr`) || n.line,
        `ring${wrong}_addr ${n.addresses[wrong]} is not an ${only === 'ipv4' ? 'IPv4' : 'IPv6'} address, but totem.ip_version is ${ipVersion}${v.entry('totem.ip_version') ? '' : ` (the default for transport udp)`}`,
      );
    }
  }
  for (let link = 0; link < links; link++) {
    const literals = nodes.map((n) => n.addresses[link]!).filter((a) => family(a) !== 'name');
    const first = literals[0];
    const other = literals.find((a) => family(a) !== family(first!));
    if (first !== undefined && other !== undefined) {
      const node = nodes.find((n) => n.addresses[link] === other)!;
      v.fail('COROSYNC_CONF_CONFLICT', node.line, `Nodes for link ${link} have different IP families (compared ${other} with ${first})`);
    }
  }
}

function checkUnique(v: ConfigView, nodes: ConfiguredNode[]): void {
  const seen = <T>(pick: (n: ConfiguredNode) => T, say: (n: ConfiguredNode, first: ConfiguredNode) => string): void => {
    const by = new Map<T, ConfiguredNode>();
    for (const n of nodes) {
      const first = by.get(pick(n));
      if (first) v.fail('COROSYNC_CONF_CONFLICT', n.line, say(n, first));
      by.set(pick(n), n);
    }
  };
  seen(
    (n) => n.nodeId,
    (n, f) => `Nodeid ${n.nodeId} appears twice in corosync.conf (nodes at lines ${f.line} and ${n.line})`,
  );
  seen(
    (n) => n.name,
    (n, f) => `node name '${n.name}' appears twice (nodes at lines ${f.line} and ${n.line}); names must pick one node (safeside daemon --node NAME)`,
  );
  for (let link = 0; link < LINKS_MAX; link++) {
    seen(
      (n) => n.addresses[link] ?? `\0${n.nodeId}`,
      (n, f) => `ring${link}_addr ${n.addresses[link]} is used by two nodes (nodeid ${f.nodeId} and ${n.nodeId}); each node needs its own address on every link`,
    );
  }
}
