// Our votequorum rules against the real one: corosync-vqsim runs corosync's votequorum.c for
// N simulated nodes. Every scenario is played on vqsim and on one Votequorum tracker per
// node (its membership = its vqsim partition, announcements exchanged like votequorum's
// nodeinfo messages), and the quorate flag of every node is compared after every command,
// once vqsim has settled (a `show` after a pause: vqsim prints its own output as soon as
// ring ids agree, often before the quorate flags have settled; see docs/quorum.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Votequorum, type NodeInfo, type QuorumConfig } from '../../src/cluster/votequorum.js';
import type { AutoTieBreakerNode, NodeId } from '../../src/cluster/types.js';

const VQSIM = '/usr/bin/corosync-vqsim';
const FIXTURES = '/work/shared/reference/fixtures';
/** Time given to vqsim after each command before we ask it to `show` (its sync timer is 10 ms). */
const SETTLE_MS = 250;
const COMMAND_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------
// corosync.conf, just enough of it: "section {", "}", "key: value".

function readConf(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  const stack: string[] = [];
  const counters = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const open = /^(\w+)\s*\{$/.exec(line);
    if (open) {
      const at = [...stack, open[1]!].join('.');
      const n = counters.get(at) ?? 0;
      counters.set(at, n + 1);
      stack.push(open[1] === 'node' ? `node.${n}` : open[1]!);
      continue;
    }
    if (line === '}') {
      stack.pop();
      continue;
    }
    const kv = /^(\w+)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`conf line not understood: ${line}`);
    keys.set([...stack, kv[1]!].join('.'), kv[2]!.trim());
  }
  return keys;
}

function quorumConfigFromConf(text: string): QuorumConfig {
  const k = readConf(text);
  const nodes: QuorumConfig['nodes'] = [];
  for (let i = 0; k.has(`nodelist.node.${i}.nodeid`); i++) {
    nodes.push({ nodeId: Number(k.get(`nodelist.node.${i}.nodeid`)), votes: Number(k.get(`nodelist.node.${i}.quorum_votes`) ?? 1) });
  }
  const flag = (key: string): boolean | null => (k.has(`quorum.${key}`) ? k.get(`quorum.${key}`) === '1' : null);
  const twoNode = flag('two_node') ?? false;
  const atbText = k.get('quorum.auto_tie_breaker_node') ?? 'lowest';
  const atbNode: AutoTieBreakerNode = atbText === 'lowest' || atbText === 'highest' ? atbText : atbText.split(/\s+/).map(Number);
  let arbiter: QuorumConfig['arbiter'] = null;
  if (k.has('quorum.device.model')) {
    // corosync: without device.votes (and all nodes at 1 vote) the device gets nodes-1 votes.
    arbiter = { votes: Number(k.get('quorum.device.votes') ?? nodes.length - 1) };
  }
  return {
    nodes,
    options: {
      expectedVotes: k.has('quorum.expected_votes') ? Number(k.get('quorum.expected_votes')) : null,
      twoNode,
      waitForAll: flag('wait_for_all') ?? twoNode,
      lastManStanding: flag('last_man_standing') ?? false,
      lastManStandingWindowMs: Number(k.get('quorum.last_man_standing_window') ?? 10000),
      autoTieBreaker: flag('auto_tie_breaker') ?? false,
      autoTieBreakerNode: atbNode,
    },
    arbiter,
  };
}

interface ConfSpec {
  votes?: number[];
  nodes?: number;
  quorum?: Record<string, string | number>;
  device?: Record<string, string | number>;
}

function confText(spec: ConfSpec): string {
  const votes = spec.votes ?? Array.from({ length: spec.nodes ?? 0 }, () => 1);
  const nodes = votes.map((v, i) =>
    [`    node {`, `        ring0_addr: 127.0.0.${i + 1}`, `        nodeid: ${i + 1}`, ...(v === 1 ? [] : [`        quorum_votes: ${v}`]), `    }`].join('\n'),
  );
  const quorum = Object.entries(spec.quorum ?? {}).map(([key, v]) => `    ${key}: ${v}`);
  const device = spec.device ? ['    device {', ...Object.entries(spec.device).map(([key, v]) => `        ${key}: ${v}`), '    }'] : [];
  return ['totem {', '    version: 2', '    cluster_name: cmp', '}', 'nodelist {', ...nodes, '}', 'quorum {', '    provider: corosync_votequorum', ...quorum, ...device, '}', ''].join('\n');
}

// ---------------------------------------------------------------------------
// vqsim as a child process

interface Shown {
  partition: number;
  nodeId: NodeId;
  quorate: boolean;
  ring: string;
  nodes: NodeId[];
}

const SHOW_LINE = /^(\d+):0*(\d+): q=([01]) ring=\[([0-9a-f]+\.[0-9a-f]+)\] nodes=\[([\d ]*)\]$/;

function parseShown(lines: string[]): Shown[] {
  const shown: Shown[] = [];
  for (const line of lines) {
    const m = SHOW_LINE.exec(line.replace(/^.*#vqsim> (show)?/, '').trim());
    if (!m) continue;
    const nodes = m[5]!.trim() === '' ? [] : m[5]!.trim().split(' ').map(Number);
    shown.push({ partition: Number(m[1]), nodeId: Number(m[2]), quorate: m[3] === '1', ring: m[4]!, nodes });
  }
  return shown;
}

class Vqsim {
  private out = '';
  private err = '';
  private closed = false;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    proc.on('close', () => (this.closed = true));
  }

  /** vqsim -c takes paths shorter than 8 characters (sizeof(sizeof(...)) in vqmain.c), so we run in `dir`. */
  static async start(dir: string, confName: string): Promise<Vqsim> {
    assert.ok(confName.length < 8, `vqsim refuses -c paths of 8 characters or more: ${confName}`);
    const sim = new Vqsim(spawn(VQSIM, ['-c', confName], { cwd: dir, stdio: 'pipe' }));
    await sim.waitFor(0, (t) => t.includes('#vqsim> '), 'the first prompt');
    return sim;
  }

  get stderr(): string {
    return this.err;
  }

  private async waitFor(from: number, ready: (text: string) => boolean, what: string): Promise<void> {
    const deadline = performance.now() + COMMAND_TIMEOUT_MS;
    while (!ready(this.out.slice(from))) {
      if (this.closed) throw new Error(`vqsim exited while waiting for ${what}; stderr: ${this.err}`);
      if (performance.now() > deadline) throw new Error(`vqsim: no ${what} within ${COMMAND_TIMEOUT_MS} ms; output: ${this.out.slice(from)}`);
      await sleep(10);
    }
  }

  /** Send a command, wait for the prompt that follows it, and return the states vqsim printed for it. */
  async command(cmd: string): Promise<Shown[]> {
    const from = this.out.length;
    this.proc.stdin.write(`${cmd}\n`);
    await this.waitFor(from, (t) => t.includes('#vqsim> '), `prompt after '${cmd}'`);
    return parseShown(this.out.slice(from).split('\n'));
  }

  async show(): Promise<Shown[]> {
    const from = this.out.length;
    this.proc.stdin.write('show\n');
    await this.waitFor(from, (t) => /#autofence: \w+\n/.test(t), "the end of 'show'");
    const chunk = this.out.slice(from);
    return parseShown(chunk.slice(0, chunk.search(/#autofence: \w+\n/)).split('\n'));
  }

  async stop(): Promise<void> {
    if (!this.closed) this.proc.stdin.write('exit\n');
    const deadline = performance.now() + 3000;
    while (!this.closed && performance.now() < deadline) await sleep(20);
    if (!this.closed) this.proc.kill('SIGKILL');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// The same cluster on our side

/** vqsim's qdevice driver (vqsim_vq_engine.c), which decides when each node's device vote counts. */
interface DeviceDriver {
  registered: boolean;
  alive: boolean;
  casting: boolean;
  /** 'live' polls every timeout/2; 'dead' failed once on a stale ring id and never restarts; 'none' was stopped. */
  poll: 'none' | 'live' | 'dead';
}

class OurCluster {
  readonly partitions = new Map<number, NodeId[]>();
  readonly trackers = new Map<NodeId, Votequorum>();
  readonly devices = new Map<NodeId, DeviceDriver>();

  constructor(
    private readonly config: QuorumConfig,
    private readonly t0: number,
  ) {}

  now(): number {
    return performance.now() - this.t0;
  }

  /** vqsim starts the nodelist's nodes one after another, each one joining partition 0. */
  startAll(): void {
    for (const n of this.config.nodes) this.up(n.nodeId, 0);
  }

  private partitionOf(id: NodeId): number | null {
    for (const [p, ids] of this.partitions) if (ids.includes(id)) return p;
    return null;
  }

  private device(id: NodeId): DeviceDriver {
    let d = this.devices.get(id);
    if (!d) this.devices.set(id, (d = { registered: false, alive: false, casting: false, poll: 'none' }));
    return d;
  }

  /** A sync in one partition: everyone announces what it knew before, then everyone recalculates. */
  private sync(p: number, newRing: boolean): void {
    const ids = this.partitions.get(p) ?? [];
    if (ids.length === 0) return;
    const members = [...ids].sort((a, b) => a - b);
    for (const id of ids) this.deviceAtSync(id, newRing);
    const infos: NodeInfo[] = ids.map((id) => this.trackers.get(id)!.nodeInfo());
    for (const id of ids) {
      const peers = infos.filter((i) => i.nodeId !== id);
      this.trackers.get(id)!.onMembership(members, this.device(id).casting, this.now(), peers);
    }
  }

  /** A registered, alive device makes sync wait for a poll; on a new ring vqsim polls with the old ring id and loses the device. */
  private deviceAtSync(id: NodeId, newRing: boolean): void {
    const d = this.device(id);
    if (!d.registered || !d.alive) return;
    if (newRing && d.poll === 'live') d.poll = 'dead';
    if (newRing || d.poll !== 'live') {
      d.alive = false;
      d.casting = false;
    }
  }

  private syncAll(newRing: boolean): void {
    for (const p of [...this.partitions.keys()].sort((a, b) => a - b)) this.sync(p, newRing);
  }

  up(id: NodeId, p: number): void {
    if (this.partitionOf(id) !== null) return; // vqsim: "ERR: nodeid N already exists"
    const tracker = new Votequorum(this.config, id);
    tracker.onMembership([id], false, this.now()); // the child's own first ring
    this.trackers.set(id, tracker);
    this.devices.delete(id);
    this.partitions.set(p, [...(this.partitions.get(p) ?? []), id]);
    this.sync(p, true);
  }

  down(id: NodeId): void {
    const p = this.partitionOf(id);
    if (p === null) return;
    this.partitions.set(p, this.partitions.get(p)!.filter((x) => x !== id));
    this.trackers.delete(id);
    this.devices.delete(id);
    this.sync(p, true);
  }

  move(p: number, ids: NodeId[]): void {
    for (const id of ids) {
      const from = this.partitionOf(id);
      if (from === null) continue;
      this.partitions.set(from, this.partitions.get(from)!.filter((x) => x !== id));
      this.partitions.set(p, [...(this.partitions.get(p) ?? []), id]);
    }
  }

  join(into: number, from: number): void {
    this.partitions.set(into, [...(this.partitions.get(into) ?? []), ...(this.partitions.get(from) ?? [])]);
    this.partitions.set(from, []);
  }

  qdevice(on: boolean, ids: NodeId[]): void {
    for (const id of ids) {
      if (!this.trackers.has(id)) continue;
      const d = this.device(id);
      if (on && !d.registered) {
        d.registered = true;
        d.poll = 'live'; // first poll after quorum.device.timeout
      } else if (on && d.poll === 'none') {
        d.poll = 'live';
      } else if (!on && d.registered) {
        // A poll with cast_vote=0 on the current ring: alive, not voting; the poll timer stops.
        d.alive = true;
        d.casting = false;
        d.poll = 'none';
        this.trackers.get(id)!.onArbiter(false);
      }
    }
    this.syncAll(false);
  }

  /** A long pause: every live device poll has voted. */
  elapse(): void {
    for (const [id, d] of this.devices) {
      if (d.registered && d.poll === 'live' && !d.casting) {
        d.alive = true;
        d.casting = true;
        this.trackers.get(id)?.onArbiter(true);
      }
    }
    this.tick();
  }

  /** last_man_standing windows that have run out. */
  tick(): void {
    for (const t of this.trackers.values()) t.onTick(this.now());
  }

  apply(cmd: string): void {
    const [verb, ...args] = cmd.trim().split(/\s+/);
    switch (verb) {
      case 'split':
      case 'move':
        for (const a of args) {
          const { partition, ids } = partitionArg(a);
          this.move(partition, ids);
        }
        this.syncAll(true);
        return;
      case 'join':
        for (const a of args.slice(1)) this.join(Number(args[0]), Number(a));
        this.syncAll(true);
        return;
      case 'down':
        // vqsim's run_down_cmd reads atoi(argv[1]) once per argument: "down 2,3" stops node 2 only.
        for (let i = 1; i <= args.length; i++) this.down(parseInt(args[0]!, 10));
        return;
      case 'up':
        for (const a of args) {
          const { partition, ids } = partitionArg(a);
          for (const id of ids) this.up(id, partition);
        }
        return;
      case 'qdevice':
        this.qdevice(args[0] === 'on', args.slice(1).flatMap((a) => partitionArg(a).ids));
        return;
      default:
        throw new Error(`scenario command not modelled: ${cmd}`);
    }
  }

  expected(): Shown[] {
    const shown: Shown[] = [];
    for (const [p, ids] of this.partitions) {
      for (const id of ids) {
        shown.push({ partition: p, nodeId: id, quorate: this.trackers.get(id)!.status().quorate, ring: '', nodes: [...ids] });
      }
    }
    return shown;
  }
}

function partitionArg(a: string): { partition: number; ids: NodeId[] } {
  const colon = a.indexOf(':');
  const partition = colon >= 0 ? parseInt(a.slice(0, colon), 10) : 0;
  const ids = (colon >= 0 ? a.slice(colon + 1) : a).split(',').map((x) => parseInt(x, 10));
  return { partition, ids };
}

// ---------------------------------------------------------------------------
// Scenarios

interface Scenario {
  name: string;
  /** Conf text, or a fixture file used in place (linked, never copied). */
  conf: { text: string } | { fixture: string };
  /**
   * vqsim commands, compared after each; `wait MS` pauses (real time: vqsim's timers run on
   * the clock), and `CMD | wait MS` pauses before comparing.
   */
  steps: string[];
  /** Steps (1-based, 0 = after start) where vqsim may differ (it is not deterministic there), with the reason. */
  knownDifferences?: Record<number, string>;
  /** Steps where we differ from corosync on purpose: vqsim MUST differ there, or this note is stale. */
  deliberate?: Record<number, string>;
}

function fixtureScenarios(): Scenario[] {
  if (!fs.existsSync(FIXTURES)) return [];
  return fs
    .readdirSync(FIXTURES)
    .filter((f) => /^vqsim-.*\.txt$/.test(f))
    .sort()
    .map((f) => {
      const text = fs.readFileSync(path.join(FIXTURES, f), 'utf8');
      const header = /^=== (\S+)\.conf$/m.exec(text);
      const conf = header ? `vqsim-${header[1]}.conf` : `vqsim-${/vqsim-(\d+)node/.exec(f)?.[1] ?? ''}n.conf`;
      const steps = [...text.matchAll(/^#vqsim> (.+)$/gm)].map((m) => m[1]!.trim()).filter((c) => c !== 'show' && c !== 'exit');
      return { name: `fixture ${f} (${conf})`, conf: { fixture: path.join(FIXTURES, conf) }, steps };
    })
    .filter((s) => fs.existsSync((s.conf as { fixture: string }).fixture));
}

const LMS_WINDOW_MS = 1000;
const LMS_WAIT = `wait ${LMS_WINDOW_MS * 2}`;
/** Device polls every timeout/2, the first one after timeout; sync waits up to sync_timeout for one. */
const DEVICE = { model: 'net', timeout: 1000, sync_timeout: 1500 };
/** Long enough for a first poll, or for a sync to give up on the device. */
const DEVICE_WAIT = 'wait 2200';

const ownScenarios: Scenario[] = [
  { name: '2 nodes, plain', conf: { text: confText({ nodes: 2 }) }, steps: ['split 1:2', 'join 0 1', 'down 2', 'up 2'] },
  { name: '3 nodes, splits and restarts', conf: { text: confText({ nodes: 3 }) }, steps: ['split 1:1', 'join 0 1', 'down 3', 'down 2', 'up 2', 'up 1:3', 'join 0 1', 'split 1:2 2:3'] },
  { name: '4 nodes, 2|2 then 3|1', conf: { text: confText({ nodes: 4 }) }, steps: ['split 1:3,4', 'join 0 1', 'split 1:4', 'split 1:3', 'join 0 1'] },
  { name: '5 nodes, 3|2 then 2|2|1', conf: { text: confText({ nodes: 5 }) }, steps: ['split 1:4,5', 'split 2:3', 'join 0 2', 'join 0 1'] },
  { name: '6 nodes, 3|3 then 4|2', conf: { text: confText({ nodes: 6 }) }, steps: ['split 1:4,5,6', 'move 0:4', 'join 0 1', 'down 6', 'down 5', 'split 1:1,2'] },
  { name: '7 nodes, 4|3 then 2|2|3', conf: { text: confText({ nodes: 7 }) }, steps: ['split 1:5,6,7', 'split 2:3,4', 'join 0 2', 'join 0 1'] },
  { name: 'two_node', conf: { text: confText({ nodes: 2, quorum: { two_node: 1 } }) }, steps: ['split 1:2', 'join 0 1', 'down 2', 'up 2', 'down 1', 'up 1:1', 'join 0 1'] },
  {
    // Two fresh nodes have the votes for quorum but have not seen all three: they wait.
    name: 'wait_for_all, 3 nodes',
    conf: { text: confText({ nodes: 3, quorum: { wait_for_all: 1 } }) },
    steps: ['split 1:3', 'join 0 1', 'down 3', 'up 3', 'down 3', 'down 2', 'up 1:2', 'up 1:3', 'join 0 1', 'split 1:2,3', 'join 0 1'],
  },
  {
    // A fresh node joining a quorate partition is released by it without seeing everyone.
    name: 'wait_for_all, 5 nodes, released by a quorate partition',
    conf: { text: confText({ nodes: 5, quorum: { wait_for_all: 1 } }) },
    steps: ['down 5', 'down 4', 'up 4', 'up 1:5', 'join 0 1'],
  },
  {
    // One change both loses and gains nodes: [1 2 3] becomes [1 4 5]. Corosync recalculates
    // after each announcement, so its verdict can depend on their order in the ring; we
    // judge the membership as a whole.
    name: 'wait_for_all, 5 nodes, members swapped in one change',
    conf: { text: confText({ nodes: 5, quorum: { wait_for_all: 1 } }) },
    steps: ['split 1:4,5', 'move 1:2,3 0:4,5', 'join 0 1', 'move 1:1,2 0:3', 'move 1:4,5 0:1,2'],
    knownDifferences: {
      2: 'order-dependent in corosync: the first announcement handled leaves a partial view ([1] plus one newcomer) that is not quorate, which re-arms wait_for_all; whether node 1 is quorate in the end depends on whether its own stale "quorate" announcement comes before or after the others (vqsim varies from run to run); we judge [1 4 5] as a whole: 3 of 5 votes, released by node 1',
      5: 'order-dependent in corosync, as step 2 (node 3 keeps quorum only if its own announcement is handled last)',
    },
  },
  {
    // Quorum lost, then regained with 3 of 5: corosync re-arms wait_for_all when quorum is
    // lost, but the stale "quorate" flags of the previous ring can release it again.
    name: 'wait_for_all, 5 nodes, quorum lost and regained',
    conf: { text: confText({ nodes: 5, quorum: { wait_for_all: 1 } }) },
    steps: ['down 5', 'down 4', 'down 3', 'up 3'],
    knownDifferences: {
      4: 'vqsim runs sync_activate before the nodeinfo messages of the new ring arrive (no sync barrier), so whether a stale "quorate" flag releases wait_for_all after the last recalculation depends on message timing; corosync processes all nodeinfo before activating',
    },
  },
  {
    name: 'last_man_standing, 5 nodes',
    conf: { text: confText({ nodes: 5, quorum: { last_man_standing: 1, last_man_standing_window: LMS_WINDOW_MS } }) },
    steps: ['split 1:4,5', LMS_WAIT, 'split 2:3', LMS_WAIT, 'split 3:2', LMS_WAIT, 'join 0 3', 'join 0 2', 'join 0 1'],
  },
  {
    name: 'last_man_standing + auto_tie_breaker, 4 nodes down to 1',
    conf: { text: confText({ nodes: 4, quorum: { last_man_standing: 1, last_man_standing_window: LMS_WINDOW_MS, auto_tie_breaker: 1 } }) },
    steps: ['down 4', LMS_WAIT, 'down 3', LMS_WAIT, 'split 1:2', LMS_WAIT, 'join 0 1'],
  },
  {
    // The second split comes inside the window: expected votes are still 5, so [1 2] has no
    // quorum, and when the window expires it is not quorate, so nothing is lowered.
    name: 'last_man_standing, second split inside the window',
    conf: { text: confText({ nodes: 5, quorum: { last_man_standing: 1, last_man_standing_window: LMS_WINDOW_MS } }) },
    steps: ['split 1:4,5', 'split 2:3', LMS_WAIT, 'join 0 2', LMS_WAIT, 'split 2:3'],
  },
  {
    name: 'last_man_standing, rejoin before the window',
    conf: { text: confText({ nodes: 4, quorum: { last_man_standing: 1, last_man_standing_window: 1500 } }) },
    steps: ['split 1:4', 'join 0 1', 'wait 2000', 'split 1:3,4'],
  },
  {
    name: 'auto_tie_breaker lowest, 4 nodes',
    conf: { text: confText({ nodes: 4, quorum: { auto_tie_breaker: 1 } }) },
    steps: ['split 1:3,4', 'join 0 1', 'split 1:1,2', 'join 0 1', 'split 1:1 2:2', 'join 0 1 2'],
  },
  {
    name: 'auto_tie_breaker highest, 4 nodes',
    conf: { text: confText({ nodes: 4, quorum: { auto_tie_breaker: 1, auto_tie_breaker_node: 'highest' } }) },
    steps: ['split 1:3,4', 'join 0 1', 'split 1:1,4'],
  },
  {
    name: 'auto_tie_breaker list "3 1", 4 nodes',
    conf: { text: confText({ nodes: 4, quorum: { auto_tie_breaker: 1, auto_tie_breaker_node: '3 1' } }) },
    steps: ['split 1:3,4', 'join 0 1', 'split 1:1,2', 'join 0 1', 'split 1:2,3', 'join 0 1', 'down 3', 'split 1:4'],
  },
  {
    name: 'auto_tie_breaker, 6 nodes 3|3',
    conf: { text: confText({ nodes: 6, quorum: { auto_tie_breaker: 1 } }) },
    steps: ['split 1:4,5,6', 'join 0 1', 'split 1:1,2,3'],
  },
  {
    name: 'auto_tie_breaker + wait_for_all, 5 nodes',
    conf: { text: confText({ nodes: 5, quorum: { auto_tie_breaker: 1, wait_for_all: 1 } }) },
    // 3|2 keeps [1 2 3]; then [1 2] | [3]: 2 votes = 5/2 and only one node left, so the tie-breaker applies.
    steps: ['split 1:3,4,5', 'join 0 1', 'split 1:4,5', 'split 2:3', 'join 0 1 2', 'split 1:1,2'],
  },
  {
    name: 'auto_tie_breaker with weighted votes 1,1,3',
    conf: { text: confText({ votes: [1, 1, 3], quorum: { auto_tie_breaker: 1, wait_for_all: 1 } }) },
    steps: ['split 1:3', 'join 0 1', 'split 1:1,2'],
    deliberate: {
      1: 'corosync lets [1 2] win the tie-breaker because only ONE node left (with 3 of 5 votes), so both halves are quorate; we count the departed votes and refuse',
      3: 'as step 1',
    },
  },
  { name: 'weighted votes 3,1,1', conf: { text: confText({ votes: [3, 1, 1] }) }, steps: ['split 1:2,3', 'join 0 1', 'split 1:1', 'down 2'] },
  { name: 'weighted votes 2,2,1,1', conf: { text: confText({ votes: [2, 2, 1, 1] }) }, steps: ['split 1:3,4', 'split 2:2', 'join 0 2', 'join 0 1'] },
  { name: 'expected_votes 5 over 3 nodes', conf: { text: confText({ nodes: 3, quorum: { expected_votes: 5 } }) }, steps: ['split 1:3', 'join 0 1', 'down 1'] },
  { name: 'expected_votes 2 over 3 nodes (rises)', conf: { text: confText({ nodes: 3, quorum: { expected_votes: 2 } }) }, steps: ['split 1:3', 'split 2:2', 'join 0 1 2'] },
  {
    name: 'qdevice, 2 nodes',
    conf: { text: confText({ nodes: 2, device: DEVICE }) },
    steps: [`qdevice on 1,2 | ${DEVICE_WAIT}`, `split 1:2 | ${DEVICE_WAIT}`, 'qdevice off 0:1', `qdevice on 0:1 | ${DEVICE_WAIT}`, `join 0 1 | ${DEVICE_WAIT}`],
  },
  {
    name: 'qdevice, 3 nodes',
    conf: { text: confText({ nodes: 3, device: DEVICE }) },
    steps: [
      `qdevice on 1,2,3 | ${DEVICE_WAIT}`,
      `split 1:2,3 | ${DEVICE_WAIT}`,
      'qdevice off 0:1',
      `qdevice on 0:1 | ${DEVICE_WAIT}`,
      `split 2:3 | ${DEVICE_WAIT}`,
      'qdevice off 1:2',
      `qdevice on 1:2 | ${DEVICE_WAIT}`,
    ],
  },
];

// ---------------------------------------------------------------------------

interface Outcome {
  steps: number;
  agreed: number;
  differences: string[];
  known: string[];
  /** Commands after which vqsim's own output differed from its settled state a moment later. */
  transients: string[];
}

function describe(shown: Shown[]): string {
  return [...shown]
    .sort((a, b) => a.nodeId - b.nodeId)
    .map((s) => `${s.partition}:${s.nodeId} q=${s.quorate ? 1 : 0} [${[...s.nodes].sort((a, b) => a - b).join(' ')}]`)
    .join(', ');
}

function compare(ours: Shown[], theirs: Shown[]): string | null {
  const key = (s: Shown): string => `${s.nodeId}:${s.quorate ? 1 : 0}:${[...s.nodes].sort((a, b) => a - b).join(' ')}`;
  const a = ours.map(key).sort().join(',');
  const b = theirs.map(key).sort().join(',');
  return a === b ? null : `vqsim ${describe(theirs)}; ours ${describe(ours)}`;
}

async function runScenario(s: Scenario): Promise<Outcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vqsim-'));
  const confName = 'c.conf';
  let confText: string;
  if ('fixture' in s.conf) {
    fs.symlinkSync(s.conf.fixture, path.join(dir, confName));
    confText = fs.readFileSync(s.conf.fixture, 'utf8');
  } else {
    fs.writeFileSync(path.join(dir, confName), s.conf.text);
    confText = s.conf.text;
  }
  const outcome: Outcome = { steps: 0, agreed: 0, differences: [], known: [], transients: [] };
  const sim = await Vqsim.start(dir, confName);
  try {
    const ours = new OurCluster(quorumConfigFromConf(confText), performance.now());
    ours.startAll();
    let printed: Shown[] = [];
    const check = async (step: number, label: string): Promise<void> => {
      await sleep(SETTLE_MS);
      ours.tick();
      const settled = await sim.show();
      // vqsim prints as soon as ring ids agree; say when that was not yet the settled state.
      const early = printed.length > 0 ? compare(printed, settled) : null;
      if (early !== null) outcome.transients.push(`step ${step} '${label}': printed ${describe(printed)}`);
      printed = [];
      const diff = compare(ours.expected(), settled);
      outcome.steps++;
      const deliberate = s.deliberate?.[step];
      if (deliberate !== undefined) {
        if (diff === null) outcome.differences.push(`${s.name}: step ${step} '${label}': expected vqsim to differ (${deliberate}), it agrees`);
        else outcome.known.push(`step ${step} '${label}': ${diff} (deliberate: ${deliberate})`);
      } else if (diff === null) outcome.agreed++;
      else if (s.knownDifferences?.[step]) outcome.known.push(`step ${step} '${label}': ${diff} (known: ${s.knownDifferences[step]})`);
      else outcome.differences.push(`${s.name}: step ${step} '${label}': ${diff}`);
    };
    await check(0, 'start');
    for (const [i, step] of s.steps.entries()) {
      for (const part of step.split('|').map((x) => x.trim())) {
        const wait = /^wait (\d+)$/.exec(part);
        if (wait) {
          await sleep(Number(wait[1]));
          ours.elapse();
        } else {
          printed = await sim.command(part);
          ours.apply(part);
        }
      }
      await check(i + 1, step);
    }
  } finally {
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return outcome;
}

test('votequorum agrees with corosync-vqsim on every settled step', { timeout: 600_000 }, async (t) => {
  if (!fs.existsSync(VQSIM)) {
    t.skip(`${VQSIM} is not installed (Debian package corosync-vqsim): nothing to compare against`);
    return;
  }
  // VQSIM_ONLY=text runs the scenarios whose name contains it (for debugging one).
  const only = process.env.VQSIM_ONLY;
  const scenarios = [...fixtureScenarios(), ...ownScenarios].filter((s) => !only || s.name.includes(only));
  assert.ok(scenarios.length > 0, `no scenario matches VQSIM_ONLY=${only}`);
  const differences: string[] = [];
  let steps = 0;
  let agreed = 0;
  let transients = 0;
  for (const s of scenarios) {
    const o = await runScenario(s);
    steps += o.steps;
    agreed += o.agreed;
    transients += o.transients.length;
    differences.push(...o.differences);
    console.log(`# ${s.name}: ${o.agreed}/${o.steps} steps agree${o.known.length ? `; known differences: ${o.known.join('; ')}` : ''}`);
    if (process.env.VQSIM_VERBOSE) for (const tr of o.transients) console.log(`#   vqsim transient output at ${tr}`);
  }
  console.log(`# vqsim comparison: ${agreed}/${steps} settled steps agree over ${scenarios.length} scenarios`);
  console.log(`# vqsim's own output after a command was not yet settled at ${transients} steps (compared after a ${SETTLE_MS} ms pause instead)`);
  assert.deepEqual(differences, [], `our votequorum and vqsim disagree:\n${differences.join('\n')}`);
});
