// A real corosync 3 cluster on this machine, for comparing failover with our engine.
//
// corosync picks its own node by matching ring0_addr against the addresses of its
// interfaces, and libqb's IPC uses abstract Unix sockets, which are per network
// namespace: so nodes cannot share one namespace (tried: every daemon claims node 1 and
// the second one fails with "Could not bind AF_UNIX: Address already in use"). Each node
// therefore gets its own network namespace, joined by a veth pair to a bridge in a hub
// namespace, with a link-local 169.254.213.N address that exists only inside these
// namespaces. Each daemon also runs under `unshare -m` with a tmpfs on /run (its pid lock
// file) and its own system.state_dir. Tools (corosync-quorumtool, corosync-cmapctl) run
// inside the same mount and network namespaces via nsenter. Links are cut with iptables:
// by default FORWARD rules on the hub's bridge (one atomic commit), or INPUT rules in the
// node namespaces as test/helpers/cluster-lab.ts does for ours.
//
// Needs root. Everything is bounded in time, and close() (or closeAllCorosyncLabsSync()
// from a signal handler) kills the daemons by pid and removes namespaces and temp dirs.

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CorosyncLabOptions {
  nodes: number;
  /** totem.token in ms; omitted = corosync's default (3000, plus token_coefficient per node above 2). */
  tokenMs?: number;
  /** quorum.two_node: 1 (only meaningful with 2 nodes). */
  twoNode?: boolean;
  /** aes256/sha256 with a key from corosync-keygen (default); false = crypto_cipher/hash none. */
  crypto?: boolean;
  /**
   * Where partitions are made: 'hub' (default) = iptables FORWARD rules on the bridge, one
   * atomic commit; 'nodes' = INPUT rules in each node's namespace, one iptables per
   * namespace run in parallel (as the lab of our engine does, but spread over 100-300 ms here).
   */
  cutAt?: 'hub' | 'nodes';
}

/** What `corosync-quorumtool -s` says, parsed. */
export interface CorosyncQuorum {
  quorate: boolean;
  /** "rep.seq" in hex, as printed. */
  ringId: string | null;
  nodeId: number | null;
  expectedVotes: number | null;
  totalVotes: number | null;
  quorum: number | null;
  flags: string[];
  /** Node names of the membership, ascending by node id. */
  members: string[];
}

export interface CorosyncNode {
  name: string;
  nodeId: number;
  netns: string;
  address: string;
  stateDir: string;
  proc: ChildProcess | null;
  log: string;
  monitor: QuorumMonitor | null;
}

/** One report of `corosync-quorumtool -m`, with the time it arrived here (epoch ms). */
export interface QuorumReport {
  t: number;
  q: CorosyncQuorum;
}

/**
 * `corosync-quorumtool -m` on one node: it prints the -s block again on every quorum or
 * membership change, so the latest block is what the node's clients currently believe.
 * stdbuf makes its stdout line-buffered (otherwise a pipe holds the blocks back).
 */
export class QuorumMonitor {
  readonly reports: QuorumReport[] = [];
  readonly proc: ChildProcess;
  private buf = '';
  stderr = '';

  constructor(pid: number, names: string[]) {
    this.proc = spawn('nsenter', ['-t', String(pid), '-m', '-n', 'stdbuf', '-oL', 'corosync-quorumtool', '-m'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-2000)));
    this.proc.stdout!.on('data', (c: Buffer) => {
      const t = Date.now();
      this.buf += c.toString();
      // A block ends with the membership table and an empty line.
      for (;;) {
        const m = /Membership information\n-+\n[^\n]*\n(?:[ \t]+\d[^\n]*\n)*\n/.exec(this.buf);
        if (!m) break;
        const block = this.buf.slice(0, m.index + m[0].length);
        this.buf = this.buf.slice(m.index + m[0].length);
        try {
          this.reports.push({ t, q: parseQuorumtool(block, names) });
        } catch (err) {
          this.stderr += `unparseable block: ${(err as Error).message}\n`;
        }
      }
    });
  }

  running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  latest(): QuorumReport | null {
    return this.reports.at(-1) ?? null;
  }

  stop(): void {
    if (this.running() && this.proc.pid) killHard(this.proc.pid);
  }
}

const subnet = '169.254.213';
const stepTimeoutMs = 10_000;
const toolTimeoutMs = 3_000;
const startTimeoutMs = 30_000;
const openLabs = new Set<CorosyncLab>();
let labCounter = 0;

export class CorosyncLab {
  readonly dir: string;
  readonly hub: string;
  readonly configFile: string;
  readonly nodes: CorosyncNode[];
  private closed = false;

  /** Creates the namespaces, the bridge, the config and the key; start() runs the daemons. */
  constructor(readonly opts: CorosyncLabOptions) {
    if (process.getuid?.() !== 0) throw new Error('corosync lab: needs root (network namespaces, iptables, tmpfs mounts)');
    if (!Number.isInteger(opts.nodes) || opts.nodes < 2 || opts.nodes > 16) throw new Error(`corosync lab: nodes must be 2..16, got ${opts.nodes}`);
    const tag = `csl${process.pid}x${++labCounter}`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-corosync-lab-'));
    this.hub = `${tag}hub`;
    this.configFile = path.join(this.dir, 'corosync.conf');
    this.nodes = Array.from({ length: opts.nodes }, (_, i) => ({
      name: `node${i + 1}`,
      nodeId: i + 1,
      netns: `${tag}n${i + 1}`,
      address: `${subnet}.${i + 1}`,
      stateDir: path.join(this.dir, `node${i + 1}`),
      proc: null,
      log: '',
      monitor: null,
    }));
    openLabs.add(this);
    try {
      this.buildNetwork();
      const crypto = opts.crypto ?? true;
      if (crypto) sh('corosync-keygen', ['-k', path.join(this.dir, 'authkey')]);
      fs.writeFileSync(this.configFile, this.configText(crypto));
      for (const n of this.nodes) fs.mkdirSync(n.stateDir, { mode: 0o700 });
    } catch (err) {
      this.closeSync();
      throw err;
    }
  }

  get names(): string[] {
    return this.nodes.map((n) => n.name);
  }

  node(name: string): CorosyncNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`corosync lab: no node ${name} (have ${this.names.join(', ')})`);
    return n;
  }

  private buildNetwork(): void {
    sh('ip', ['netns', 'add', this.hub]);
    sh('ip', ['-n', this.hub, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', this.hub, 'link', 'set', 'br0', 'up']);
    if (this.cutAt === 'hub') {
      // Bridged IPv4 must pass the hub's iptables FORWARD chain: that is where partitions are cut.
      spawnSync('modprobe', ['br_netfilter'], { timeout: stepTimeoutMs });
      const r = spawnSync('ip', ['netns', 'exec', this.hub, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { encoding: 'utf8', timeout: stepTimeoutMs });
      if (r.status !== 0) throw new Error(`corosync lab: cannot make bridged traffic pass iptables (br_netfilter): ${r.stderr.trim()}; use cutAt: 'nodes'`);
    }
    for (const n of this.nodes) {
      const port = `v${n.nodeId}`;
      sh('ip', ['netns', 'add', n.netns]);
      sh('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', this.hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
      sh('ip', ['-n', this.hub, 'link', 'set', port, 'master', 'br0']);
      sh('ip', ['-n', this.hub, 'link', 'set', port, 'up']);
      sh('ip', ['-n', n.netns, 'addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', n.netns, 'link', 'set', 'eth0', 'up']);
    }
  }

  configText(crypto: boolean): string {
    const o = this.opts;
    const l = ['totem {', '    version: 2', '    cluster_name: corolab', '    transport: knet'];
    if (crypto) l.push('    crypto_cipher: aes256', '    crypto_hash: sha256', `    keyfile: ${path.join(this.dir, 'authkey')}`);
    else l.push('    crypto_cipher: none', '    crypto_hash: none');
    if (o.tokenMs !== undefined) l.push(`    token: ${o.tokenMs}`);
    l.push('}', 'nodelist {');
    for (const n of this.nodes) l.push('    node {', `        ring0_addr: ${n.address}`, `        name: ${n.name}`, `        nodeid: ${n.nodeId}`, '    }');
    l.push('}', 'quorum {', '    provider: corosync_votequorum');
    if (o.twoNode) l.push('    two_node: 1');
    // system.state_dir differs per node: start() appends it to each node's copy.
    l.push('}', 'logging {', '    to_stderr: yes', '    to_syslog: no', '    to_logfile: no', '    timestamp: hires', '}', '');
    return l.join('\n');
  }

  /** Start one daemon (its namespace must exist); resolves once the process runs, not when it has joined. */
  start(name: string): void {
    const n = this.node(name);
    if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`corosync lab: ${name} is already running`);
    // Each node needs its own state_dir, so each gets its own copy of the config.
    const conf = path.join(n.stateDir, 'corosync.conf');
    fs.writeFileSync(conf, fs.readFileSync(this.configFile, 'utf8') + `system {\n    state_dir: ${n.stateDir}\n}\n`);
    // ip netns exec, unshare (without --fork) and sh's exec all replace the process, so the
    // pid we get is corosync's own.
    const script = 'mount -t tmpfs -o mode=0755,size=16m tmpfs /run && exec /usr/sbin/corosync -f -c "$0"';
    const proc = spawn('ip', ['netns', 'exec', n.netns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    n.proc = proc;
    n.log = '';
    proc.stdout!.on('data', (c: Buffer) => (n.log += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (n.log += c.toString()));
  }

  /** Start every node and wait until each reports a quorate membership of all of them. */
  async startAll(timeoutMs = startTimeoutMs): Promise<void> {
    for (const n of this.nodes) this.start(n.name);
    await this.waitFullMembership(timeoutMs);
  }

  async waitFullMembership(timeoutMs = startTimeoutMs): Promise<void> {
    const all = this.names.join(',');
    await waitFor(
      `a quorate membership of ${all} on every node`,
      async () => {
        const qs = await Promise.all(this.names.map((x) => this.quorum(x)));
        return qs.every((q) => q.quorate && q.members.join(',') === all);
      },
      timeoutMs,
      () => this.nodes.map((n) => `--- ${n.name} (exit ${n.proc?.exitCode ?? n.proc?.signalCode ?? '-'}):\n${n.log.slice(-2000)}`).join('\n'),
    );
  }

  pid(name: string): number {
    const p = this.node(name).proc;
    if (!p?.pid || !this.running(name)) throw new Error(`corosync lab: ${name} is not running`);
    return p.pid;
  }

  running(name: string): boolean {
    const p = this.node(name).proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** kill -9, and wait until the process is gone. */
  async crash(name: string): Promise<void> {
    const p = this.node(name).proc;
    if (!p || !this.running(name)) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGKILL');
    await withTimeout(exited, stepTimeoutMs, `${name} to exit after SIGKILL`);
    this.node(name).monitor?.stop();
  }

  pause(name: string): void {
    process.kill(this.pid(name), 'SIGSTOP');
  }

  resume(name: string): void {
    process.kill(this.pid(name), 'SIGCONT');
  }

  /** Run a tool inside a node's mount and network namespaces (corosync must be running). */
  tool(name: string, cmd: string, args: string[], timeoutMs = toolTimeoutMs): Promise<{ code: number; stdout: string; stderr: string }> {
    const pid = this.pid(name);
    return new Promise((resolve) => {
      execFile('nsenter', ['-t', String(pid), '-m', '-n', cmd, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr: err && err.killed ? `timed out after ${timeoutMs} ms` : stderr });
      });
    });
  }

  /** `corosync-quorumtool -s` on a node; throws if the tool gives no parseable answer. */
  async quorum(name: string, timeoutMs = toolTimeoutMs): Promise<CorosyncQuorum> {
    const r = await this.tool(name, 'corosync-quorumtool', ['-s'], timeoutMs);
    // Exit 0 = quorate, 2 = not quorate; anything else is an error (IPC not up, timeout).
    if (r.code !== 0 && r.code !== 2) throw new Error(`corosync-quorumtool on ${name} exited ${r.code}: ${r.stderr.trim()}`);
    return parseQuorumtool(r.stdout, this.names);
  }

  /** Start `corosync-quorumtool -m` on every running node that has none, and wait for each one's first report. */
  async startMonitors(timeoutMs = stepTimeoutMs): Promise<void> {
    for (const n of this.nodes) {
      if (!this.running(n.name) || n.monitor?.running()) continue;
      n.monitor = new QuorumMonitor(this.pid(n.name), this.names);
    }
    await waitFor(
      'a first report from every quorum monitor',
      async () => this.nodes.every((n) => !this.running(n.name) || (n.monitor?.running() && n.monitor.latest() !== null)),
      timeoutMs,
      () => this.nodes.map((n) => `${n.name}: ${n.monitor?.stderr ?? 'no monitor'}`).join('\n'),
      10,
    );
  }

  /** The node's latest `corosync-quorumtool -m` report; throws if its monitor is not running. */
  monitored(name: string): QuorumReport {
    const m = this.node(name).monitor;
    const r = m?.latest();
    if (!m || !r || !m.running()) throw new Error(`corosync lab: no quorum monitor running on ${name}${m?.stderr ? `: ${m.stderr.trim()}` : ''}`);
    return r;
  }

  async cmapGet(name: string, key: string): Promise<string> {
    const r = await this.tool(name, 'corosync-cmapctl', ['-g', key]);
    if (r.code !== 0) throw new Error(`corosync-cmapctl -g ${key} on ${name} exited ${r.code}: ${r.stderr.trim()}`);
    const m = /=\s*(.*)$/.exec(r.stdout.trim());
    if (!m) throw new Error(`corosync-cmapctl -g ${key} on ${name}: unexpected output ${JSON.stringify(r.stdout)}`);
    return m[1]!;
  }

  /** Drop everything between a and b, both directions. */
  async cut(a: string, b: string): Promise<void> {
    const [x, y] = [this.node(a).address, this.node(b).address];
    if (this.cutAt === 'hub') await this.hubRules([`-A FORWARD -s ${x} -d ${y} -j DROP`, `-A FORWARD -s ${y} -d ${x} -j DROP`]);
    else await Promise.all([this.iptables(a, ['-A', 'INPUT', '-s', y, '-j', 'DROP']), this.iptables(b, ['-A', 'INPUT', '-s', x, '-j', 'DROP'])]);
  }

  /** Cut one node from all the others. */
  async isolate(name: string): Promise<void> {
    const me = this.node(name);
    if (this.cutAt === 'hub') {
      await this.hubRules([`-A FORWARD -s ${me.address} -j DROP`, `-A FORWARD -d ${me.address} -j DROP`]);
      return;
    }
    const others = this.nodes.filter((n) => n !== me);
    await Promise.all([
      ...others.map((o) => this.iptables(o.name, ['-A', 'INPUT', '-s', me.address, '-j', 'DROP'])),
      this.iptables(name, ['-A', 'INPUT', '-s', others.map((o) => o.address).join(','), '-j', 'DROP']),
    ]);
  }

  async heal(): Promise<void> {
    if (this.cutAt === 'hub') await this.hubRules([], true);
    else await Promise.all(this.nodes.map((n) => this.iptables(n.name, ['-F', 'INPUT'])));
  }

  private get cutAt(): 'hub' | 'nodes' {
    return this.opts.cutAt ?? 'hub';
  }

  /**
   * Rules for the bridge's FORWARD chain in the hub namespace (bridged IPv4 passes iptables
   * there: bridge-nf-call-iptables is set when the hub is built), applied by one
   * iptables-restore: one atomic commit, so every link of a partition goes at the same instant.
   */
  private hubRules(rules: string[], flush = false): Promise<void> {
    const file = path.join(this.dir, 'hub.rules');
    fs.writeFileSync(file, ['*filter', ...(flush ? ['-F FORWARD'] : []), ...rules, 'COMMIT', ''].join('\n'));
    return new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', this.hub, 'iptables-restore', '-w', '--noflush', file], { timeout: stepTimeoutMs, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
        if (err) reject(new Error(`iptables-restore in ${this.hub} failed (${rules.join('; ') || 'flush'}): ${stderr || err.message}`));
        else resolve();
      });
    });
  }

  private iptables(name: string, args: string[]): Promise<void> {
    const ns = this.node(name).netns;
    return new Promise((resolve, reject) => {
      execFile('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args], { timeout: stepTimeoutMs, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
        if (err) reject(new Error(`iptables ${args.join(' ')} in ${ns} failed: ${stderr || err.message}`));
        else resolve();
      });
    });
  }

  log(name: string): string {
    return this.node(name).log;
  }

  /** Membership and quorum changes from a node's log (since its last start), with their log timestamps. */
  logEvents(name: string): CorosyncLogEvent[] {
    return parseLogEvents(this.node(name).log, this.names);
  }

  /** Kill every daemon (by pid) and wait for it; then remove namespaces and the temp dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    const waits: Promise<unknown>[] = [];
    for (const n of this.nodes) n.monitor?.stop();
    for (const n of this.nodes) {
      const p = n.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) continue;
      waits.push(withTimeout(new Promise((r) => p.once('exit', r)), stepTimeoutMs, `${n.name} to exit`).catch(() => undefined));
      killHard(p.pid!);
    }
    await Promise.all(waits);
    this.closeSync();
  }

  /** Synchronous teardown for signal handlers: SIGKILL by pid, delete namespaces, remove files. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const n of this.nodes) n.monitor?.stop();
    for (const n of this.nodes) if (n.proc?.pid && n.proc.exitCode === null && n.proc.signalCode === null) killHard(n.proc.pid);
    // Deleting a namespace that still has a process only unlinks its name; the processes
    // were killed above, so the namespaces go away with them.
    for (const ns of [...this.nodes.map((n) => n.netns), this.hub]) spawnSync('ip', ['netns', 'del', ns], { timeout: stepTimeoutMs });
    fs.rmSync(this.dir, { recursive: true, force: true });
    openLabs.delete(this);
  }
}

/** For SIGINT/SIGTERM handlers: tear down every lab this process still has open. */
export function closeAllCorosyncLabsSync(): void {
  for (const lab of [...openLabs]) lab.closeSync();
}

/** Parse `corosync-quorumtool -s` (format: reference/corosync.md §5.4). `names` maps node id N to names[N-1] when the output lacks names. */
export function parseQuorumtool(text: string, names: string[] = []): CorosyncQuorum {
  const field = (label: string): string | null => {
    const m = new RegExp(`^${label}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(text);
    return m ? m[1]! : null;
  };
  const num = (label: string): number | null => {
    const v = field(label);
    const m = v === null ? null : /^(\d+)/.exec(v);
    return m ? Number(m[1]) : null;
  };
  const quorateText = field('Quorate');
  if (quorateText !== 'Yes' && quorateText !== 'No') throw new Error(`corosync-quorumtool output has no "Quorate: Yes|No" line:\n${text}`);
  const membership = text.split(/^Membership information\s*$/m)[1] ?? '';
  const members: { id: number; name: string }[] = [];
  for (const line of membership.split('\n')) {
    // "         1          1 node1 (local)" (a Qdevice column may sit between votes and name)
    const m = /^\s+(\d+)\s+\d+\s+(?:\S+,\S+\s+)?(\S+)/.exec(line);
    if (!m || m[1] === '0') continue;
    const id = Number(m[1]);
    members.push({ id, name: m[2] ?? names[id - 1] ?? String(id) });
  }
  members.sort((a, b) => a.id - b.id);
  return {
    quorate: quorateText === 'Yes',
    ringId: field('Ring ID'),
    nodeId: num('Node ID'),
    expectedVotes: num('Expected votes'),
    totalVotes: num('Total votes'),
    quorum: num('Quorum'),
    flags: (field('Flags') ?? '').split(/\s+/).filter(Boolean),
    members: members.map((m) => m.name),
  };
}

export type CorosyncLogEvent =
  | { t: number; kind: 'members'; members: string[] }
  | { t: number; kind: 'quorate' | 'inquorate' };

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The lines of a corosync log (logging.timestamp: hires, local time, no year) that say
 * what the quorum service delivered: "[QUORUM] Members[2]: 1 2" and "This node is within
 * the (non-)primary component". Times become epoch ms, in this process's time zone.
 */
export function parseLogEvents(log: string, names: string[] = [], now = Date.now()): CorosyncLogEvent[] {
  const out: CorosyncLogEvent[] = [];
  const year = new Date(now).getFullYear();
  for (const line of log.split('\n')) {
    const m = /^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)\.(\d{3}) .*\[QUORUM\] (.*)$/.exec(line);
    if (!m) continue;
    const month = months.indexOf(m[1]!);
    if (month < 0) continue;
    let t = new Date(year, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
    if (t > now + 86_400_000) t = new Date(year - 1, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
    const text = m[7]!;
    const mem = /^Members\[\d+\]:((?: \d+)*)\s*$/.exec(text);
    if (mem) {
      const ids = mem[1]!.trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
      out.push({ t, kind: 'members', members: ids.map((id) => names[id - 1] ?? String(id)) });
    } else if (/within the non-primary component/.test(text)) out.push({ t, kind: 'inquorate' });
    else if (/within the primary component/.test(text)) out.push({ t, kind: 'quorate' });
  }
  return out;
}

function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: stepTimeoutMs });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll until probe() is true; errors count as "not yet". */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, detail: () => string = () => '', everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}\n${detail()}`);
    await sleep(everyMs);
  }
}
