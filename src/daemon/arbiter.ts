// `safeside arbiter`: the diskless tie-breaker. It holds no data and no log, only its
// vote: it grants it to one candidate per term and acknowledges that leader's
// heartbeats, so of two halves of a split exactly one can hold quorum.

import { pino } from 'pino';
import { ClusterSetupError, loadCluster, resolveKey, startClusterNode } from './cluster-setup.js';
import { ARBITER_NODE_ID } from '../cluster/types.js';
import { VERSION } from '../version.js';

export interface ArbiterOptions {
  clusterFile: string;
  /** HOST[:PORT] overriding quorum.device.net.host/port. */
  listen: string | null;
  keyFile: string | null;
}

export async function runArbiter(opts: ArbiterOptions): Promise<void> {
  const log = pino({ base: { node: 'arbiter' } }, pino.destination(2));
  const config = loadCluster(opts.clusterFile);
  if (!config.arbiter) {
    throw new ClusterSetupError(
      `${config.file}: no quorum device is configured; add a 'device' section to 'quorum' (model: net, and net { host: ADDRESS }) so the nodes know where the arbiter listens`,
      10,
    );
  }
  if (opts.listen) {
    const m = /^(?:\[([^\]]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/.exec(opts.listen);
    const port = m?.[3] !== undefined ? Number(m[3]) : config.arbiter.port;
    if (!m || port < 1 || port > 65535) throw new ClusterSetupError(`--listen: expected HOST or HOST:PORT, got '${opts.listen}'`, 3);
    config.arbiter = { ...config.arbiter, host: (m[1] ?? m[2])!, port };
  }
  const key = resolveKey(config, null, opts.keyFile);
  const node = await startClusterNode({ config, self: ARBITER_NODE_ID, key, stateDir: null, log });
  log.info({ listen: `${config.arbiter.host}:${config.arbiter.port}`, cluster: config.clusterName, version: VERSION }, 'safeside arbiter ready');
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      void node.stop().finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
