// Loads the cluster (corosync.conf), finds this node in it, reads the cluster key and
// starts the engine. Shared by `safeside daemon --cluster` and `safeside arbiter`.

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadClusterConfig } from '../runtime/corosync-config-loader.js';
import { CorosyncConfigError } from '../config/corosync/index.js';
import { readKey, KeyFileError } from '../runtime/cluster/keyfile.js';
import { ClusterNode } from '../runtime/cluster/node.js';
import { ARBITER_NODE_ID, type ClusterConfig, type ClusterNode as ConfiguredNode } from '../cluster/types.js';

export const DEFAULT_KEY_FILE = '/etc/safeside/authkey';

export class ClusterSetupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ClusterSetupError';
  }
}

export function loadCluster(file: string): ClusterConfig {
  try {
    return loadClusterConfig(file);
  } catch (err) {
    if (err instanceof CorosyncConfigError) throw new ClusterSetupError(err.message, 10);
    throw err;
  }
}

/** `--node NAME` picks a node by its name, its ring0_addr or its nodeid. */
export function findSelf(config: ClusterConfig, nodeName: string): ConfiguredNode {
  const me =
    config.nodes.find((n) => n.name === nodeName) ??
    config.nodes.find((n) => n.addresses[0] === nodeName) ??
    config.nodes.find((n) => String(n.nodeId) === nodeName);
  if (!me) {
    const known = config.nodes.map((n) => `${n.name} (nodeid ${n.nodeId})`).join(', ');
    throw new ClusterSetupError(`${config.file}: node '${nodeName}' is not in the nodelist; known nodes: ${known}`, 10);
  }
  return me;
}

/**
 * The key: totem.keyfile when set, else the state dir's own `authkey`, else
 * /etc/safeside/authkey. With crypto_cipher and crypto_hash both `none` no key is used.
 */
export function resolveKey(config: ClusterConfig, stateDir: string | null, explicit: string | null): Buffer {
  if (config.crypto.cipher === 'none' && config.crypto.hash === 'none') return Buffer.alloc(0);
  const candidates = explicit
    ? [explicit]
    : [config.crypto.keyFile, stateDir ? path.join(stateDir, 'authkey') : null, DEFAULT_KEY_FILE].filter(
        (p: string | null): p is string => p !== null,
      );
  const file = candidates.find((p) => fs.existsSync(p)) ?? candidates[0]!;
  try {
    return readKey(file);
  } catch (err) {
    if (err instanceof KeyFileError) {
      throw new ClusterSetupError(
        `${err.message} (looked in: ${candidates.join(', ')})`,
        10,
      );
    }
    throw err;
  }
}

export async function startClusterNode(opts: {
  config: ClusterConfig;
  self: number;
  key: Buffer;
  stateDir: string | null;
  log: Logger;
}): Promise<ClusterNode> {
  if (opts.config.crypto.cipher === 'none') {
    opts.log.warn(`${opts.config.file}: crypto_cipher is none: cluster traffic is not encrypted${opts.config.crypto.hash === 'none' ? ' nor authenticated' : ''}`);
  }
  const node = new ClusterNode({
    config: opts.config,
    self: opts.self,
    key: opts.key,
    stateFile: opts.self === ARBITER_NODE_ID || !opts.stateDir ? null : path.join(opts.stateDir, 'cluster-state.json'),
    log: opts.log,
  });
  await node.start();
  return node;
}
