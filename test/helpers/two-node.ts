// Two real `safeside daemon` processes replicating one resource between 127.0.0.1 and
// 127.0.0.2, for end-to-end tests of the replication layer. Each node has its own state
// dir and backing file under one temp dir; cleanup() unmounts, takes the resource down,
// stops every daemon this helper started (by pid) and removes the temp dir.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeDaemon, cliMain, run, sparseFile, tempDir, type CliResult } from './node-daemon.js';

export type NodeName = 'alpha' | 'bravo';
export const NODE_HOST: Record<NodeName, string> = { alpha: '127.0.0.1', bravo: '127.0.0.2' };

export interface TwoNodeConfigOptions {
  port: number;
  disks: Record<NodeName, string>;
  secret?: string;
  protocol?: 'A' | 'B' | 'C';
  /** Extra statements for the net section. */
  net?: string;
  disk?: string;
}

/** The seed article's resource with an address per node (and a quick reconnect). */
export function twoNodeConfig(o: TwoNodeConfigOptions): string {
  const on = (n: NodeName): string =>
    `  on ${n} {\n    device /dev/drbd0;\n    disk ${o.disks[n]};\n    meta-disk internal;\n    address ${NODE_HOST[n]}:${o.port};\n  }\n`;
  return (
    `resource r0 {\n` +
    `  protocol ${o.protocol ?? 'C'};\n` +
    `  net {\n    cram-hmac-alg sha1;\n    shared-secret "${o.secret ?? 'secret'}";\n    verify-alg sha1;\n    connect-int 1;\n${o.net ?? ''}  }\n` +
    (o.disk ? `  disk {\n${o.disk}  }\n` : '') +
    on('alpha') +
    on('bravo') +
    `}\n`
  );
}

async function portFree(host: string, port: number): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ host, port }, () => s.close(() => resolve(true)));
  });
}

/** A TCP port free on both 127.0.0.1 and 127.0.0.2 (probed, so other runs do not collide). */
export async function freePairPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if ((await portFree(NODE_HOST.alpha, port)) && (await portFree(NODE_HOST.bravo, port))) return port;
  }
  throw new Error('no free port on 127.0.0.1 and 127.0.0.2');
}

/** The CLI without blocking the event loop (tests that run NBD clients in-process use this). */
export function cliAsync(stateDir: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliMain, '--state-dir', stateDir, ...args],
      { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null;
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export interface PeerDeviceJson {
  'replication-state': string;
  'peer-disk-state': string;
  'out-of-sync': number;
  sent: number;
  received: number;
  'percent-in-sync': number;
}

export interface NodeStatus {
  role: string;
  diskState: string;
  sizeKiB: number;
  connectionState: string;
  peerRole: string;
  peer: PeerDeviceJson;
  nbdUri: string;
}

export function parseStatus(json: string): NodeStatus {
  const r = (JSON.parse(json) as Record<string, unknown>[])[0] as {
    role: string;
    'nbd-uri': string;
    devices: { 'disk-state': string; size: number }[];
    connections: { 'connection-state': string; 'peer-role': string; peer_devices: PeerDeviceJson[] }[];
  };
  const c = r.connections[0]!;
  return {
    role: r.role,
    diskState: r.devices[0]!['disk-state'],
    sizeKiB: r.devices[0]!.size,
    connectionState: c['connection-state'],
    peerRole: c['peer-role'],
    peer: c.peer_devices[0]!,
    nbdUri: r['nbd-uri'],
  };
}

/** Poll until cond() returns a truthy value; throws naming what it waited for and the last value seen. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs: number, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(intervalMs);
  }
}

export interface TwoNodeOptions {
  prefix: string;
  sizeBytes: number;
  /** Per-node overrides of the config (e.g. a wrong secret for one node). */
  configFor?: Partial<Record<NodeName, Partial<TwoNodeConfigOptions>>>;
  net?: string;
  /** Extra `safeside daemon` arguments per node. */
  daemonArgs?: Partial<Record<NodeName, string[]>>;
}

export class TwoNodes {
  readonly dir: string;
  readonly mnt: string;
  readonly disks: Record<NodeName, string>;
  readonly configs: Record<NodeName, string>;
  readonly nodes: Record<NodeName, NodeDaemon>;
  /** Every daemon ever started here, so cleanup stops each one by pid. */
  private readonly started: NodeDaemon[] = [];
  port = 0;

  private constructor(readonly options: TwoNodeOptions) {
    this.dir = tempDir(options.prefix);
    this.mnt = path.join(this.dir, 'srv');
    fs.mkdirSync(this.mnt);
    this.disks = { alpha: path.join(this.dir, 'alpha.img'), bravo: path.join(this.dir, 'bravo.img') };
    this.configs = { alpha: path.join(this.dir, 'alpha.conf'), bravo: path.join(this.dir, 'bravo.conf') };
    this.nodes = {
      alpha: new NodeDaemon(path.join(this.dir, 'state-alpha'), this.configs.alpha, 'alpha', options.daemonArgs?.alpha ?? []),
      bravo: new NodeDaemon(path.join(this.dir, 'state-bravo'), this.configs.bravo, 'bravo', options.daemonArgs?.bravo ?? []),
    };
  }

  /** Backing files, configs and two running daemons (nothing created or up yet). */
  static async create(options: TwoNodeOptions): Promise<TwoNodes> {
    const t = new TwoNodes(options);
    try {
      t.port = await freePairPort();
      for (const n of ['alpha', 'bravo'] as const) {
        sparseFile(t.disks[n], options.sizeBytes);
        fs.writeFileSync(t.configs[n], twoNodeConfig({ port: t.port, disks: t.disks, net: options.net, ...options.configFor?.[n] }));
      }
      await t.start('alpha');
      await t.start('bravo');
    } catch (err) {
      await t.cleanup();
      throw err;
    }
    return t;
  }

  /** (Re)start a node's daemon on its state dir; a previous daemon there must have exited. */
  async start(n: NodeName): Promise<NodeDaemon> {
    const old = this.nodes[n];
    const d = new NodeDaemon(old.stateDir, old.configFile, old.nodeName, old.extraArgs);
    this.nodes[n] = d;
    this.started.push(d);
    await d.start();
    return d;
  }

  cli(n: NodeName, args: string[]): CliResult {
    return this.nodes[n].cli(args);
  }

  cliAsync(n: NodeName, args: string[]): Promise<CliResult> {
    return cliAsync(this.nodes[n].stateDir, args);
  }

  /** Run a verb and fail loudly with its output when it does not exit 0. */
  must(n: NodeName, args: string[]): string {
    const r = this.cli(n, args);
    if (r.code !== 0) throw new Error(`${n}: safeside ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  status(n: NodeName): NodeStatus {
    return parseStatus(this.must(n, ['status', '--json', 'r0']));
  }

  async statusAsync(n: NodeName): Promise<NodeStatus> {
    const r = await this.cliAsync(n, ['status', '--json', 'r0']);
    if (r.code !== 0) throw new Error(`${n}: status exited ${r.code}: ${r.stderr}`);
    return parseStatus(r.stdout);
  }

  /** Both nodes connected, Established, UpToDate/UpToDate. */
  async waitInSync(timeoutMs: number): Promise<void> {
    await waitFor(
      'both nodes Established and UpToDate/UpToDate',
      async () => {
        for (const n of ['alpha', 'bravo'] as const) {
          const s = await this.statusAsync(n);
          if (s.connectionState !== 'Connected' || s.peer['replication-state'] !== 'Established') return false;
          if (s.diskState !== 'UpToDate' || s.peer['peer-disk-state'] !== 'UpToDate') return false;
        }
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** Both connected (any disk states); returns alpha's /proc/drbd text. */
  async waitConnected(timeoutMs: number): Promise<string> {
    return waitFor(
      'alpha and bravo connected',
      async () => {
        const [a, b] = await Promise.all([this.statusAsync('alpha'), this.statusAsync('bravo')]);
        if (a.connectionState !== 'Connected' || b.connectionState !== 'Connected') return '';
        return (await this.cliAsync('alpha', ['status', '--proc'])).stdout;
      },
      timeoutMs,
      100,
    );
  }

  /** create-md and up on both nodes, primary --force on `primary`, wait for the initial full sync. */
  async initialSync(primary: NodeName, timeoutMs: number): Promise<void> {
    for (const n of ['alpha', 'bravo'] as const) this.must(n, ['create-md', 'r0']);
    for (const n of ['alpha', 'bravo'] as const) this.must(n, ['up', 'r0']);
    this.must(primary, ['primary', '--force', 'r0']);
    await this.waitInSync(timeoutMs);
  }

  /** Compare the data areas (the first sizeKiB of each backing file); -1 when identical, else the first differing offset. */
  compareDataAreas(sizeKiB: number): number {
    return compareFiles(this.disks.alpha, this.disks.bravo, sizeKiB * 1024);
  }

  log(n: NodeName): string {
    return this.nodes[n].log;
  }

  async cleanup(): Promise<void> {
    if (fs.existsSync(this.mnt) && fs.readFileSync('/proc/mounts', 'utf8').includes(` ${this.mnt} `)) run('umount', [this.mnt]);
    for (const n of ['alpha', 'bravo'] as const) {
      const d = this.nodes[n];
      if (d.proc && d.proc.exitCode === null && d.proc.signalCode === null) {
        d.cli(['down', 'r0']);
      }
    }
    for (const d of this.started) await d.stop();
    // A daemon killed with -9 leaves its loop device and FUSE mount; a new daemon on the
    // same state dir removes them at start-up, so start one briefly where that happened.
    for (const n of ['alpha', 'bravo'] as const) {
      const d = this.nodes[n];
      if (d.proc?.signalCode === 'SIGKILL' && fs.existsSync(d.stateDir)) {
        const sweeper = new NodeDaemon(d.stateDir, d.configFile, d.nodeName);
        try {
          await sweeper.start();
        } catch {
          /* best effort */
        }
        await sweeper.stop();
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function compareFiles(a: string, b: string, bytes: number): number {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  try {
    const chunk = 4 * 1024 * 1024;
    const ba = Buffer.alloc(chunk);
    const bb = Buffer.alloc(chunk);
    for (let off = 0; off < bytes; off += chunk) {
      const n = Math.min(chunk, bytes - off);
      const ra = fs.readSync(fa, ba, 0, n, off);
      const rb = fs.readSync(fb, bb, 0, n, off);
      if (ra !== n || rb !== n) return off;
      if (!ba.subarray(0, n).equals(bb.subarray(0, n))) {
        for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return off + i;
      }
    }
    return -1;
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/** Socket path and export name of an `nbd+unix:///NAME?socket=PATH` URI. */
export function parseNbdUnixUri(uri: string): { socket: string; exportName: string } {
  const m = /^nbd\+unix:\/\/\/([^?]*)\?socket=(.+)$/.exec(uri);
  if (!m) throw new Error(`not an nbd+unix URI: ${uri}`);
  return { exportName: decodeURIComponent(m[1]!), socket: m[2]! };
}

export function isMounted(dir: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}
