// From a parsed corosync.conf to the typed ClusterConfig our engine runs on. The checks
// `corosync -t` makes come first, in its order where it matters; then votequorum's start-up
// checks and what our engine needs beyond corosync (see docs/corosync-conf.md).

import type { ClusterConfig } from '../../cluster/types.js';
import { checkLogging } from './logging.js';
import { readNodes } from './nodelist.js';
import { readQuorum } from './quorum.js';
import { checkVersion, readCrypto, readPort, readTimings, readTransport } from './totem.js';
import type { CorosyncTree } from './tree.js';
import { ConfigView } from './view.js';

export function clusterConfigFrom(tree: CorosyncTree, file: string): ClusterConfig {
  const v = new ConfigView(tree, file);
  checkVersion(v);
  const transport = readTransport(v);
  const crypto = readCrypto(v);
  const timings = readTimings(v);
  const configured = readNodes(v, transport);
  checkLogging(v);
  const nodes = configured.map(({ nodeId, name, addresses, votes }) => ({ nodeId, name, addresses, votes }));
  const { quorum, arbiter } = readQuorum(v, configured);
  const links = Math.max(...nodes.map((n) => n.addresses.length));
  return {
    file,
    clusterName: v.str('totem.cluster_name') ?? '',
    port: readPort(v, links),
    timings,
    crypto,
    nodes,
    quorum,
    arbiter,
  };
}
