// A cluster of real `safeside daemon --cluster` processes for tests and benchmarks.
// As root the nodes run in a network namespace of their own (127.0.0.N on its
// loopback), so links can be cut with iptables without touching the host; every
// namespace, process and directory made here is removed by close().

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { callControl, type ControlReply } from '../../src/runtime/control-socket.js';
import { controlSocketPath } from '../../src/runtime/state-dir.js';
import type { QuorumJson } from '../../src/cluster/quorum-format.js';
import { cliMain, isRoot, tempDir } from './node-daemon.js';

export interface LabOptions {
  nodes: number;
  arbiter?: boolean;
  twoNode?: boolean;
  /** totem.token in ms; omitted = our default. */
  tokenMs?: number;
  /** Extra lines for the quorum section. */
  quorumLines?: string[];
  /** A second link per node on 127.0.1.N. */
  twoLinks?: boolean;
}

export interface LabProcess {
  name: string;
  proc: ChildProcess;
  log: string;
}

const readyTimeoutMs = 15_000;
let labCounter = 0;

export class ClusterLab {
  readonly dir = tempDir('cluster');
  readonly netns: string | null;
  readonly configFile: string;
  readonly keyFile: string;
  private readonly procs = new Map<string, LabProcess>();
  readonly names: string[];

  constructor(readonly opts: LabOptions) {
    this.names = Array.from({ length: opts.nodes }, (_, i) => `node${i + 1}`);
    this.netns = isRoot() ? `safeside-lab-${process.pid}-${++labCounter}` : null;
    if (this.netns) {
      sh('ip', ['netns', 'add', this.netns]);
      sh('ip', ['netns', 'exec', this.netns, 'ip', 'link', 'set', 'lo', 'up']);
    }
    this.keyFile = path.join(this.dir, 'authkey');
    const kg = spawnSync(process.execPath, [cliMain, 'keygen', '--key', this.keyFile], { encoding: 'utf8' });
    if (kg.status !== 0) {
      if (this.netns) spawnSync('ip', ['netns', 'del', this.netns]);
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw new Error(`keygen failed: ${kg.stderr}`);
    }
    this.configFile = path.join(this.dir, 'corosync.conf');
    fs.writeFileSync(this.configFile, this.configText());
    for (const n of this.names) fs.mkdirSync(this.stateDir(n), { mode: 0o700 });
  }

  /** Outside a namespace the nodes share the host's loopback, so a port of our own avoids clashes. */
  private get port(): number {
    return this.netns ? 5405 : 20000 + ((process.pid * 7 + labCounter * 13) % 20000);
  }

  address(i: number, link = 0): string {
    return `127.0.${link}.${i + 1}`;
  }

  arbiterAddress(): string {
    return '127.0.0.100';
  }

  configText(): string {
    const o = this.opts;
    const lines = ['totem {', '    version: 2', '    cluster_name: lab', `    keyfile: ${this.keyFile}`];
    if (o.tokenMs !== undefined) lines.push(`    token: ${o.tokenMs}`);
    lines.push('    interface {', '        linknumber: 0', `        mcastport: ${this.port}`, '    }', '}', 'nodelist {');
    this.names.forEach((name, i) => {
      lines.push('    node {', `        name: ${name}`, `        nodeid: ${i + 1}`, `        ring0_addr: ${this.address(i)}`);
      if (o.twoLinks) lines.push(`        ring1_addr: ${this.address(i, 1)}`);
      lines.push('    }');
    });
    lines.push('}', 'quorum {', '    provider: corosync_votequorum');
    if (o.twoNode) lines.push('    two_node: 1');
    for (const l of o.quorumLines ?? []) lines.push(`    ${l}`);
    if (o.arbiter) {
      lines.push('    device {', '        model: net', '        votes: 1', '        net {', `            host: ${this.arbiterAddress()}`, '            algorithm: ffsplit', '        }', '    }');
    }
    lines.push('}', 'logging {', '    to_stderr: yes', '}', '');
    return lines.join('\n');
  }

  stateDir(name: string): string {
    return path.join(this.dir, name);
  }

  private command(args: string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, process.execPath, cliMain, ...args]] : [process.execPath, [cliMain, ...args]];
  }

  async start(name: string): Promise<void> {
    const args =
      name === 'arbiter'
        ? ['arbiter', '--cluster', this.configFile]
        : ['daemon', '--cluster', this.configFile, '--node', name, '--state-dir', this.stateDir(name)];
    const [cmd, argv] = this.command(args);
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const p: LabProcess = { name, proc, log: '' };
    this.procs.set(name, p);
    proc.stdout!.on('data', (c: Buffer) => (p.log += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (p.log += c.toString()));
    const ready = name === 'arbiter' ? 'safeside arbiter ready' : 'safeside daemon ready';
    const deadline = Date.now() + readyTimeoutMs;
    while (!p.log.includes(ready)) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not become ready (exit ${proc.exitCode}):\n${p.log}`);
      await sleep(20);
    }
  }

  async startAll(): Promise<void> {
    if (this.opts.arbiter) await this.start('arbiter');
    await Promise.all(this.names.map((n) => this.start(n)));
  }

  log(name: string): string {
    return this.procs.get(name)?.log ?? '';
  }

  pid(name: string): number {
    const p = this.procs.get(name);
    if (!p?.proc.pid) throw new Error(`${name} is not running`);
    return p.proc.pid;
  }

  running(name: string): boolean {
    const p = this.procs.get(name);
    return !!p && p.proc.exitCode === null && p.proc.signalCode === null;
  }

  async crash(name: string): Promise<void> {
    const p = this.procs.get(name);
    if (!p || !this.running(name)) return;
    const exited = new Promise((r) => p.proc.once('exit', r));
    p.proc.kill('SIGKILL');
    await exited;
  }

  pause(name: string): void {
    process.kill(this.pid(name), 'SIGSTOP');
  }

  resume(name: string): void {
    process.kill(this.pid(name), 'SIGCONT');
  }

  /** Control-socket call straight from this process: fast enough to poll every few ms. */
  call(name: string, verb: string, args: string[] = [], options: Record<string, string | boolean> = {}): Promise<ControlReply> {
    return callControl(controlSocketPath(this.stateDir(name)), { verb, args, options });
  }

  async quorumJson(name: string): Promise<{ code: number; status: QuorumJson }> {
    const r = await this.call(name, 'quorum', [], { json: true });
    return { code: r.exitCode, status: JSON.parse(r.stdout) as QuorumJson };
  }

  async membersJson(name: string): Promise<MembersJson> {
    const r = await this.call(name, 'members', [], { json: true });
    if (r.exitCode !== 0) throw new Error(`members on ${name} exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as MembersJson;
  }

  /** The real CLI, as a user runs it. */
  cli(name: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [cliMain, '--state-dir', this.stateDir(name), ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Drop everything between two endpoints, both directions (needs the namespace). */
  cut(a: string, b: string): void {
    this.dropAll([
      [a, b],
      [b, a],
    ]);
  }

  /** Drop only what `from` sends to `to`: a one-way partition. */
  cutOneWay(from: string, to: string): void {
    this.dropAll([[from, to]]);
  }

  isolate(name: string): void {
    const others = [...this.names, ...(this.opts.arbiter ? ['arbiter'] : [])].filter((o) => o !== name);
    this.dropAll(others.flatMap((o) => [[name, o] as const, [o, name] as const]));
  }

  /** All rules in one iptables-restore, so a partition starts at one instant. */
  private dropAll(pairs: (readonly [string, string])[]): void {
    if (!this.netns) throw new Error('cutting links needs root (a network namespace of the test)');
    const rules = pairs.map(([from, to]) => `-A INPUT -s ${this.addressOf(from)} -d ${this.addressOf(to)} -j DROP`);
    const r = spawnSync('ip', ['netns', 'exec', this.netns, 'iptables-restore', '--noflush'], {
      input: ['*filter', ...rules, 'COMMIT', ''].join('\n'),
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`iptables-restore failed: ${r.stderr}`);
  }

  heal(): void {
    this.iptables(['-F', 'INPUT']);
  }

  private addressOf(name: string): string {
    return name === 'arbiter' ? this.arbiterAddress() : this.address(this.names.indexOf(name));
  }

  private iptables(args: string[]): void {
    if (!this.netns) throw new Error('cutting links needs root (a network namespace of the test)');
    sh('ip', ['netns', 'exec', this.netns, 'iptables', ...args]);
  }

  async waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs: number, everyMs = 20): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    for (;;) {
      try {
        const v = await probe();
        if (v !== null && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
      await sleep(everyMs);
    }
  }

  async close(): Promise<void> {
    for (const p of this.procs.values()) {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) continue;
      const exited = new Promise((r) => p.proc.once('exit', r));
      try {
        process.kill(p.proc.pid!, 'SIGCONT');
      } catch {
        /* already gone */
      }
      p.proc.kill('SIGKILL');
      await exited;
    }
    if (this.netns) spawnSync('ip', ['netns', 'del', this.netns]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export type { QuorumJson };

export interface MembersJson {
  'ring-id': string | null;
  leader: string | null;
  term: number;
  role: string;
  quorate: boolean;
  members: string[];
  'arbiter-present': boolean;
  counters: Record<string, number>;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
