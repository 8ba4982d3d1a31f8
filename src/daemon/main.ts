// `safeside daemon`: one process per node. Loads the config, takes the state dir,
// serves NBD and the control socket, and hands each verb to its resource.

import { DEFAULT_TLSHD_CONF } from '../runtime/tls-loader.js';
import os from 'node:os';
import fs from 'node:fs';
import type net from 'node:net';
import { pino } from 'pino';
import { volumesFor, hostFor, DrbdConfigError } from '../config/drbd/index.js';
import { loadDrbdConfig } from '../runtime/drbd-config-loader.js';
import type { DrbdConfig } from '../config/drbd/model.js';
import { NbdServer } from '../runtime/nbd/server.js';
import { listenControl, type ControlReply, type ControlRequest } from '../runtime/control-socket.js';
import { controlSocketPath, lockStateDir, nbdSocketPath, StateDirError } from '../runtime/state-dir.js';
import { cleanupStaleDevices } from '../runtime/local-device.js';
import { formatProc, formatStatusText, statusJson } from '../volume/status-format.js';
import { VolumeExportDirectory } from './export-directory.js';
import { ResourceRuntime, type CommandOutcome, type RuntimeEnv } from './resource-runtime.js';
import { MetadataError } from '../volume/metadata-errors.js';
import { BackingDeviceError } from '../runtime/backing-device.js';
import { LocalDeviceError } from '../runtime/local-device.js';
import { VERSION } from '../version.js';
import type { ClusterConfig, ClusterNode as ConfiguredNode } from '../cluster/types.js';
import type { ClusterNode } from '../runtime/cluster/node.js';
import { ClusterSetupError, findSelf, loadCluster, resolveKey, startClusterNode } from './cluster-setup.js';
import { clusterVerb } from './cluster-verbs.js';

export interface DaemonOptions {
  configFile: string | null;
  clusterFile: string | null;
  nodeName: string | null;
  stateDir: string;
  nbdTcp: string | null;
  /** tlshd.conf for resources with `net { tls yes; }` (default /etc/tlshd.conf). */
  tlshdConf?: string;
  /** For tests of the daemon without FUSE/loop; the CLI always sets up devices. */
  localDevices?: boolean;
}

export class DaemonStartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'DaemonStartError';
  }
}

function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new DaemonStartError(`--nbd-tcp: expected HOST:PORT, got '${value}'`, 3);
  return { host: (m[1] ?? m[2])!, port };
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const log = pino({ base: { node: opts.nodeName ?? os.hostname() } }, pino.destination(2));
  const nodeName = opts.nodeName ?? os.hostname();
  let config: DrbdConfig | null = null;
  if (opts.configFile) {
    try {
      config = loadDrbdConfig(opts.configFile);
    } catch (err) {
      if (err instanceof DrbdConfigError) throw new DaemonStartError(err.message, 10);
      throw err;
    }
  }
  let clusterConfig: ClusterConfig | null = null;
  let selfNode: ConfiguredNode | null = null;
  let clusterKey: Buffer | null = null;
  if (opts.clusterFile) {
    try {
      clusterConfig = loadCluster(opts.clusterFile);
      selfNode = findSelf(clusterConfig, nodeName);
      clusterKey = resolveKey(clusterConfig, opts.stateDir, null);
    } catch (err) {
      if (err instanceof ClusterSetupError) throw new DaemonStartError(err.message, err.exitCode);
      throw err;
    }
  }

  let unlock: () => void;
  try {
    unlock = lockStateDir(opts.stateDir);
  } catch (err) {
    if (err instanceof StateDirError) throw new DaemonStartError(err.message, 1);
    throw err;
  }

  const cleaned = await cleanupStaleDevices(opts.stateDir);
  if (cleaned.length > 0) log.warn({ devices: cleaned }, 'removed block devices left by a previous daemon that did not stop cleanly');

  const directory = new VolumeExportDirectory();
  const nbd = new NbdServer({ directory, logger: log });
  const nbdSocket = nbdSocketPath(opts.stateDir);
  await nbd.listenUnix(nbdSocket);
  let nbdTcp: { host: string; port: number } | null = null;
  if (opts.nbdTcp) {
    const want = parseHostPort(opts.nbdTcp);
    nbdTcp = await nbd.listenTcp(want.host, want.port);
  }

  const env: RuntimeEnv = {
    stateDir: opts.stateDir,
    nbdSocket,
    nbdTcp,
    nbd,
    directory,
    log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
    localDevices: opts.localDevices ?? true,
    tlshdConf: opts.tlshdConf ?? DEFAULT_TLSHD_CONF,
    linkLogger: log,
  };

  const resources = new Map<string, ResourceRuntime>();
  if (config) {
    for (const r of config.resources) {
      let volumes;
      try {
        hostFor(r, nodeName);
        volumes = volumesFor(r, nodeName);
      } catch (err) {
        // Resources without a section for this node are simply not ours.
        if (err instanceof DrbdConfigError) continue;
        throw err;
      }
      const me = hostFor(r, nodeName);
      resources.set(r.name, new ResourceRuntime(r, volumes, me, env));
    }
  }

  let cluster: ClusterNode | null = null;
  if (clusterConfig && selfNode && clusterKey) {
    cluster = await startClusterNode({ config: clusterConfig, self: selfNode.nodeId, key: clusterKey, stateDir: opts.stateDir, log });
  }

  const volumeHandler = makeHandler({ resources, nodeName, configFile: opts.configFile });
  const handler = async (req: ControlRequest): Promise<ControlReply> =>
    (await clusterVerb(cluster, clusterConfig, req)) ?? volumeHandler(req);
  const control: net.Server = await listenControl(controlSocketPath(opts.stateDir), handler, (m) => log.error(m));
  log.info(
    { stateDir: opts.stateDir, resources: [...resources.keys()], nbd: nbdSocket, cluster: clusterConfig?.clusterName ?? null, version: VERSION },
    `safeside daemon ready on node ${nodeName}`,
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void (async () => {
        control.close();
        await cluster?.stop().catch((err: Error) => log.error(err.message));
        for (const r of resources.values()) await r.shutdown().catch((err: Error) => log.error(err.message));
        await nbd.close().catch(() => undefined);
        fs.rmSync(controlSocketPath(opts.stateDir), { force: true });
        unlock();
        resolve();
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

function makeHandler(ctx: {
  resources: Map<string, ResourceRuntime>;
  nodeName: string;
  configFile: string | null;
}): (req: ControlRequest) => Promise<ControlReply> {
  const pick = (name: string | undefined): ResourceRuntime[] | ControlReply => {
    if (name === undefined) return { exitCode: 3, stdout: '', stderr: 'a resource name is required\n' };
    if (name === 'all') return [...ctx.resources.values()];
    const r = ctx.resources.get(name);
    if (r) return [r];
    const known = [...ctx.resources.keys()];
    const where = ctx.configFile ? ` in ${ctx.configFile} for node ${ctx.nodeName}` : ' (the daemon runs without --config)';
    return {
      exitCode: 10,
      stdout: '',
      stderr: `'${name}' not defined in your config${where}; known resources: ${known.length ? known.join(', ') : 'none'}\n`,
    };
  };

  return async (req) => {
    if (req.verb === 'status') {
      const sel = req.args[0] === undefined ? [...ctx.resources.values()].filter((r) => r.isUp) : pick(req.args[0]);
      if (!Array.isArray(sel)) return sel;
      const down = sel.filter((r) => !r.isUp);
      if (req.args[0] !== undefined && req.args[0] !== 'all' && down.length > 0) {
        return { exitCode: 10, stdout: '', stderr: `${down[0]!.name}: No such resource (it is down)\n` };
      }
      const statuses = sel.filter((r) => r.isUp).map((r) => r.status());
      if (req.options.json) return { exitCode: 0, stdout: JSON.stringify(statusJson(statuses), null, 2) + '\n', stderr: '' };
      if (req.options.proc) return { exitCode: 0, stdout: formatProc(statuses, `safeside-${VERSION}`), stderr: '' };
      // drbdsetup's words when nothing is configured, which scripts grep for.
      if (statuses.length === 0) return { exitCode: 0, stdout: '# No currently configured DRBD found.\n', stderr: '' };
      return { exitCode: 0, stdout: formatStatusText(statuses), stderr: '' };
    }
    const sel = pick(req.args[0]);
    if (!Array.isArray(sel)) return sel;
    const outcomes = [];
    for (const r of sel) {
      try {
        const o = await runVerb(r, req);
        if (o === null) return { exitCode: 3, stdout: '', stderr: `unknown verb '${req.verb}'\n` };
        outcomes.push(o);
      } catch (err) {
        outcomes.push(outcomeOfError(r.name, err));
      }
    }
    return {
      exitCode: outcomes.reduce((worst, o) => (o.exitCode !== 0 ? o.exitCode : worst), 0),
      stdout: outcomes.map((o) => o.stdout).join(''),
      stderr: outcomes.map((o) => o.stderr).join(''),
    };
  };
}

async function runVerb(r: ResourceRuntime, req: ControlRequest): Promise<CommandOutcome | null> {
  switch (req.verb) {
    case 'create-md':
      return r.createMd(req.options.force === true);
    case 'up':
      return r.up();
    case 'down':
      return r.down();
    case 'primary':
      return r.primary(req.options.force === true);
    case 'secondary':
      return r.secondary();
    case 'device':
      return r.device(Number(req.options.volume ?? 0));
    case 'connect':
      return r.connect(req.options.discardMyData === true, typeof req.options.peer === 'string' ? req.options.peer : null);
    case 'disconnect':
      return r.disconnect(typeof req.options.peer === 'string' ? req.options.peer : null);
    case 'invalidate':
      return r.invalidate();
    case 'verify':
      return r.verify(typeof req.options.peer === 'string' ? req.options.peer : null);
    default:
      return null;
  }
}

/** Operating errors become a message naming the resource and an exit code from docs/operations.md. */
function outcomeOfError(resource: string, err: unknown): CommandOutcome {
  const text = (err as Error).message ?? String(err);
  const prefixed = text.startsWith(`${resource}/`) || text.startsWith(`${resource}:`) ? text : `${resource}: ${text}`;
  if (err instanceof MetadataError) return { exitCode: 20, stdout: '', stderr: prefixed + '\n' };
  if (err instanceof BackingDeviceError) {
    return { exitCode: 10, stdout: '', stderr: `${resource}: Failure: (104) Can not open backing device. ${text}\n` };
  }
  if (err instanceof DrbdConfigError) return { exitCode: 10, stdout: '', stderr: prefixed + '\n' };
  if (err instanceof LocalDeviceError) return { exitCode: 1, stdout: '', stderr: prefixed + '\n' };
  throw err;
}
