// Failover benchmark (run by hand, not in CI): our cluster engine against Debian's corosync 3.
//
//   npm run build && node dist/bench/cluster-failover.js [--trials 20] [--only ours|corosync]
//        [--nodes 3] [--two-node-trials 3] [--hold 500] [--poll 10]
//        [--corosync-status monitor|poll] [--corosync-cut hub|nodes] [--out FILE.json]
//
// Configurations, each on a fresh cluster, one after the other:
//   ours                   `safeside daemon --cluster` at our defaults (test/helpers/cluster-lab.ts)
//   corosync               corosync 3 at its defaults (token 3000 + token_coefficient)
//   corosync token=1000    the same with totem.token: 1000
//   corosync 2-node        two_node: 1 at defaults: context only (--two-node-trials, 0 = skip)
// Measurements, each trial from a cluster where every node reports the full quorate membership:
//   kill -9 of a node -> until every survivor reports the membership without it; the victim
//     alternates between the leader (ours: members' leader; corosync: the ring representative)
//     and a follower;
//   iptables partition of one node from the others -> until the minority reports not quorate
//     (2-node: a membership of itself), and until every majority node reports a quorate
//     membership of the majority; meanwhile, and for --hold ms after, every node is polled and
//     instants where the minority says quorate while a majority node says quorate in a
//     membership without it (two sides quorate at once) are counted.
// Polling: every --poll ms per node. Ours answers over the control socket (`quorum --json`).
// corosync: by default the latest block printed by a `corosync-quorumtool -m` kept running
// on each node (it prints on every change); `--corosync-status poll` runs
// `corosync-quorumtool -s` per question instead (60-250 ms a call here, so coarser). The
// corosync figures are also read from its own log (ms timestamps of "[QUORUM] Members[...]"
// and "non-primary component"). corosync partitions are cut on the bridge between the node
// namespaces in one atomic iptables commit (--corosync-cut nodes: INPUT rules in each node's
// namespace, like ours, which spreads the cut over 100-300 ms).
// Needs root. Method and results: docs/cluster-bench.md.

import os from 'node:os';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CorosyncLab, closeAllCorosyncLabsSync, type CorosyncLogEvent } from './corosync-lab.js';
import type { ClusterLab as ClusterLabT } from '../test/helpers/cluster-lab.js';

// ---------------------------------------------------------------- command line

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

function intArg(name: string, dflt: number, min: number, max: number): number {
  const raw = arg(name, String(dflt));
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    process.stderr.write(`cluster-failover: --${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}\n`);
    process.exit(1);
  }
  return v;
}

const trials = intArg('trials', 20, 1, 1000);
const nodeCount = intArg('nodes', 3, 3, 9);
const twoNodeTrials = intArg('two-node-trials', 3, 0, 1000);
const holdMs = intArg('hold', 500, 0, 60_000);
const pollMs = intArg('poll', 10, 1, 1000);
const only = arg('only', '');
const outFile = arg('out', '');
const corosyncStatus = arg('corosync-status', 'monitor');
const corosyncCut = arg('corosync-cut', 'hub');
if (corosyncCut !== 'hub' && corosyncCut !== 'nodes') {
  process.stderr.write(`cluster-failover: --corosync-cut must be "hub" or "nodes", got ${JSON.stringify(corosyncCut)}\n`);
  process.exit(1);
}
if (corosyncStatus !== 'monitor' && corosyncStatus !== 'poll') {
  process.stderr.write(`cluster-failover: --corosync-status must be "monitor" or "poll", got ${JSON.stringify(corosyncStatus)}\n`);
  process.exit(1);
}
if (only !== '' && only !== 'ours' && only !== 'corosync') {
  process.stderr.write(`cluster-failover: --only must be "ours" or "corosync", got ${JSON.stringify(only)}\n`);
  process.exit(1);
}
/** Longest a failover may take before the trial counts as failed. */
const detectTimeoutMs = 30_000;
/** Longest a restarted node or a healed partition may take to rejoin. */
const rejoinTimeoutMs = 60_000;
const statusTimeoutMs = 3_000;

// ---------------------------------------------------------------- the two kinds of cluster

interface NodeStatus {
  quorate: boolean;
  members: string[];
  ringId: string | null;
}

/** One cluster under test, of either kind; every method is bounded in time. */
interface Driver {
  readonly names: string[];
  start(): Promise<void>;
  status(name: string): Promise<NodeStatus>;
  /** ours: the leader; corosync: the ring representative (lowest node id of the ring). */
  leader(): Promise<string | null>;
  crash(name: string): Promise<void>;
  /** Start a crashed node again and wait until every node reports the full membership. */
  restart(name: string): Promise<void>;
  isolate(name: string): Promise<void>;
  /** Remove the partition and wait until every node reports the full membership. */
  heal(): Promise<void>;
  /** corosync only: quorum events from the node's log. */
  logEvents?(name: string): CorosyncLogEvent[];
  /** Runtime facts worth recording (effective token and consensus). */
  facts(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

interface ConfigSpec {
  id: string;
  label: string;
  kind: 'ours' | 'corosync';
  nodes: number;
  tokenMs?: number;
  twoNode?: boolean;
  trials: number;
}

class CorosyncDriver implements Driver {
  private readonly lab: CorosyncLab;
  constructor(
    spec: ConfigSpec,
    private readonly mode: 'monitor' | 'poll',
  ) {
    this.lab = new CorosyncLab({ nodes: spec.nodes, tokenMs: spec.tokenMs, twoNode: spec.twoNode, cutAt: corosyncCut as 'hub' | 'nodes' });
  }
  get names(): string[] {
    return this.lab.names;
  }
  async start(): Promise<void> {
    await this.lab.startAll();
    if (this.mode === 'monitor') await this.lab.startMonitors();
  }
  async status(name: string): Promise<NodeStatus> {
    // monitor: the latest block `corosync-quorumtool -m` printed, i.e. what the node's
    // clients believe now; poll: a `corosync-quorumtool -s` of its own.
    const q = this.mode === 'monitor' ? this.lab.monitored(name).q : await this.lab.quorum(name, statusTimeoutMs);
    return { quorate: q.quorate, members: q.members, ringId: q.ringId };
  }
  async leader(): Promise<string | null> {
    for (const n of this.names) {
      if (!this.lab.running(n)) continue;
      const ring = (await this.lab.quorum(n)).ringId;
      const rep = ring ? parseInt(ring.split('.')[0]!, 16) : NaN;
      return this.names[rep - 1] ?? null;
    }
    return null;
  }
  crash(name: string): Promise<void> {
    return this.lab.crash(name);
  }
  async restart(name: string): Promise<void> {
    this.lab.start(name);
    await this.lab.waitFullMembership(rejoinTimeoutMs);
    if (this.mode === 'monitor') await this.lab.startMonitors();
  }
  isolate(name: string): Promise<void> {
    return this.lab.isolate(name);
  }
  async heal(): Promise<void> {
    await this.lab.heal();
    await this.lab.waitFullMembership(rejoinTimeoutMs);
  }
  logEvents(name: string): CorosyncLogEvent[] {
    return this.lab.logEvents(name);
  }
  async facts(): Promise<Record<string, string>> {
    const f: Record<string, string> = {};
    for (const k of ['token', 'consensus', 'token_retransmit', 'join']) f[`runtime.config.totem.${k}`] = await this.lab.cmapGet('node1', `runtime.config.totem.${k}`);
    return f;
  }
  close(): Promise<void> {
    return this.lab.close();
  }
}

class OursDriver implements Driver {
  private constructor(private readonly lab: ClusterLabT) {}
  static async create(spec: ConfigSpec): Promise<OursDriver> {
    // Loaded only when ours runs, so `--only corosync` works while our engine is half-built.
    const { ClusterLab } = await import('../test/helpers/cluster-lab.js');
    return new OursDriver(new ClusterLab({ nodes: spec.nodes, twoNode: spec.twoNode, tokenMs: spec.tokenMs }));
  }
  get names(): string[] {
    return this.lab.names;
  }
  async start(): Promise<void> {
    await this.lab.startAll();
    await this.waitFull();
  }
  async status(name: string): Promise<NodeStatus> {
    const { status } = await withTimeout(this.lab.quorumJson(name), statusTimeoutMs, `quorum on ${name}`);
    return { quorate: status.quorate, members: [...status.members].sort(byNodeName), ringId: status['ring-id'] };
  }
  async leader(): Promise<string | null> {
    // The leader as the majority of running nodes sees it.
    const votes = new Map<string, number>();
    for (const n of this.names) {
      if (!this.lab.running(n)) continue;
      const m = await withTimeout(this.lab.membersJson(n), statusTimeoutMs, `members on ${n}`);
      if (m.leader) votes.set(m.leader, (votes.get(m.leader) ?? 0) + 1);
    }
    return [...votes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  }
  crash(name: string): Promise<void> {
    return this.lab.crash(name);
  }
  async restart(name: string): Promise<void> {
    await this.lab.start(name);
    await this.waitFull();
  }
  async isolate(name: string): Promise<void> {
    this.lab.isolate(name);
  }
  async heal(): Promise<void> {
    this.lab.heal();
    await this.waitFull();
  }
  private async waitFull(): Promise<void> {
    const all = this.names.join(',');
    await this.lab.waitFor(
      `a quorate membership of ${all} with a leader on every node`,
      async () => {
        const st = await Promise.all(this.names.map((n) => this.status(n)));
        return st.every((s) => s.quorate && s.members.join(',') === all) && (await this.leader()) !== null;
      },
      rejoinTimeoutMs,
      50,
    );
  }
  async facts(): Promise<Record<string, string>> {
    const m = /^\s*token:\s*(\d+)/m.exec(this.lab.configText());
    const { DEFAULT_TOKEN_MS } = await import('../src/config/corosync/totem.js');
    return { 'totem.token': m ? m[1]! : `${DEFAULT_TOKEN_MS} (our default)` };
  }
  close(): Promise<void> {
    return this.lab.close();
  }
}

const byNodeName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

// ---------------------------------------------------------------- polling

interface Sample {
  node: string;
  /** When the question was asked and when the answer came (epoch ms). */
  sent: number;
  t: number;
  s: NodeStatus | null;
  err?: string;
}

/** One loop per node asking for its status every `everyMs`; a slow answer delays only that node's next ask. */
class Poller {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly d: Driver,
    names: string[],
    private readonly everyMs: number,
  ) {
    this.loops = names.map((n) => this.loop(n));
  }

  private async loop(node: string): Promise<void> {
    while (this.running) {
      const sent = Date.now();
      let s: NodeStatus | null = null;
      let err: string | undefined;
      try {
        s = await withTimeout(this.d.status(node), statusTimeoutMs + 500, `status of ${node}`);
      } catch (e) {
        err = (e as Error).message.split('\n')[0];
      }
      this.samples.push({ node, sent, t: Date.now(), s, ...(err ? { err } : {}) });
      await sleep(Math.max(1, this.everyMs - (Date.now() - sent)));
    }
  }

  /** Answer time of the first answer from `node`, asked at or after t0, that satisfies `pred`. */
  first(node: string, t0: number, pred: (s: NodeStatus) => boolean): number | null {
    for (const x of this.samples) if (x.node === node && x.sent >= t0 && x.s && pred(x.s)) return x.t;
    return null;
  }

  async until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Median spacing between consecutive answers of one node. */
  spacingMs(): number | null {
    const gaps: number[] = [];
    const last = new Map<string, number>();
    for (const x of this.samples) {
      const p = last.get(x.node);
      if (p !== undefined) gaps.push(x.t - p);
      last.set(x.node, x.t);
    }
    return median(gaps);
  }
}

// ---------------------------------------------------------------- trials

interface KillTrial {
  config: string;
  kind: 'kill';
  trial: number;
  victim: string;
  role: 'leader' | 'follower';
  /** Kill time (epoch ms). */
  t0: number;
  /** Until every survivor answered with the membership without the victim (null = failed). */
  ms: number | null;
  perNodeMs: Record<string, number | null>;
  /** corosync: from its log, until the last survivor logged that membership (absent for ours). */
  logMs?: number | null;
  ringIds: Record<string, string | null>;
  pollSpacingMs: number | null;
  error?: string;
}

interface Overlap {
  /**
   * Minority answers "quorate" that were asked after some majority node had already answered
   * "quorate without the minority": each one proves that two sides were quorate at once.
   */
  instants: number;
  /** Of those, the ones where the two memberships did not share a node. */
  disjointInstants: number;
  /** Lower bound of how long both sides were quorate (0 unless proven). */
  provenMs: number;
  /** Upper bound, given when each answer was asked and received. */
  possibleMs: number;
}

interface PartitionTrial {
  config: string;
  kind: 'partition';
  trial: number;
  victim: string;
  role: 'leader' | 'follower';
  /** When the last iptables rule was in (epoch ms), and how long adding the rules took. */
  t0: number;
  cutMs: number;
  /** Until the minority answered "not quorate" (null = it never did within the trial). */
  minorityInquorateMs: number | null;
  /** Until the minority answered with a membership of itself alone. */
  minorityAloneMs: number | null;
  /** Until every majority node answered quorate with the majority's membership. */
  majorityQuorateMs: number | null;
  perNodeMs: Record<string, number | null>;
  overlap: Overlap;
  /** corosync: the same read from its log. */
  log: { minorityInquorateMs: number | null; majorityMembersMs: number | null; overlapMs: number | null } | null;
  pollSpacingMs: number | null;
  error?: string;
}

type Trial = KillTrial | PartitionTrial;

const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort(byNodeName).join(',') === [...b].sort(byNodeName).join(',');

function pickVictim(d: Driver, leader: string | null, role: 'leader' | 'follower', trial: number): string {
  if (role === 'leader' && leader) return leader;
  const followers = d.names.filter((n) => n !== leader);
  return followers[trial % followers.length]!;
}

async function killTrial(spec: ConfigSpec, d: Driver, trial: number): Promise<KillTrial> {
  const role: 'leader' | 'follower' = trial % 2 === 0 ? 'leader' : 'follower';
  const leader = await d.leader();
  const victim = pickVictim(d, leader, role, trial >> 1);
  const survivors = d.names.filter((n) => n !== victim);
  const poller = new Poller(d, survivors, pollMs);
  const rec: KillTrial = { config: spec.id, kind: 'kill', trial, victim, role, t0: 0, ms: null, perNodeMs: {}, ringIds: {}, pollSpacingMs: null };
  try {
    await sleep(100);
    const t0 = Date.now();
    rec.t0 = t0;
    await d.crash(victim);
    const done = (n: string): number | null => poller.first(n, t0, (s) => sameSet(s.members, survivors));
    await poller.until(`every survivor of ${victim} to report ${survivors.join(',')}`, () => survivors.every((n) => done(n) !== null), detectTimeoutMs);
    for (const n of survivors) rec.perNodeMs[n] = done(n)! - t0;
    rec.ms = Math.max(...survivors.map((n) => rec.perNodeMs[n]!));
    for (const n of survivors) rec.ringIds[n] = [...poller.samples].reverse().find((x) => x.node === n && x.s)?.s?.ringId ?? null;
  } catch (err) {
    rec.error = (err as Error).message;
  } finally {
    await poller.stop();
    rec.pollSpacingMs = poller.spacingMs();
  }
  if (d.logEvents && rec.t0 > 0) {
    const times = survivors.map((n) => d.logEvents!(n).find((e) => e.t >= rec.t0 && e.kind === 'members' && sameSet(e.members, survivors))?.t ?? null);
    rec.logMs = times.every((t) => t !== null) ? Math.max(...(times as number[])) - rec.t0 : null;
  }
  await d.restart(victim);
  return rec;
}

async function partitionTrial(spec: ConfigSpec, d: Driver, trial: number): Promise<PartitionTrial> {
  const role: 'leader' | 'follower' = trial % 2 === 0 ? 'leader' : 'follower';
  const leader = await d.leader();
  const victim = pickVictim(d, leader, role, trial >> 1);
  const majority = d.names.filter((n) => n !== victim);
  const poller = new Poller(d, d.names, pollMs);
  const rec: PartitionTrial = {
    config: spec.id,
    kind: 'partition',
    trial,
    victim,
    role,
    t0: 0,
    cutMs: 0,
    minorityInquorateMs: null,
    minorityAloneMs: null,
    majorityQuorateMs: null,
    perNodeMs: {},
    overlap: { instants: 0, disjointInstants: 0, provenMs: 0, possibleMs: 0 },
    log: null,
    pollSpacingMs: null,
  };
  let cutStart = Date.now();
  try {
    await sleep(100);
    cutStart = Date.now();
    await d.isolate(victim);
    const t0 = Date.now();
    rec.t0 = t0;
    rec.cutMs = t0 - cutStart;
    const inquorate = (): number | null => poller.first(victim, t0, (s) => !s.quorate);
    const alone = (): number | null => poller.first(victim, t0, (s) => sameSet(s.members, [victim]));
    const majorityDone = (n: string): number | null => poller.first(n, t0, (s) => s.quorate && sameSet(s.members, majority));
    await poller.until(
      `${victim} to lose quorum (or be alone) and ${majority.join(',')} to report a quorate ${majority.join(',')}`,
      () => (inquorate() !== null || alone() !== null) && majority.every((n) => majorityDone(n) !== null),
      detectTimeoutMs,
    );
    await sleep(holdMs);
    const rel = (t: number | null): number | null => (t === null ? null : t - t0);
    rec.minorityInquorateMs = rel(inquorate());
    rec.minorityAloneMs = rel(alone());
    for (const n of majority) rec.perNodeMs[n] = rel(majorityDone(n));
    rec.majorityQuorateMs = Math.max(...majority.map((n) => rec.perNodeMs[n]!));
  } catch (err) {
    rec.error = (err as Error).message;
  } finally {
    await poller.stop();
    rec.pollSpacingMs = poller.spacingMs();
  }
  rec.overlap = overlapOf(poller.samples, victim, majority, cutStart);
  if (d.logEvents && rec.t0 > 0) {
    const t0 = rec.t0;
    const inq = d.logEvents(victim).find((e) => e.t >= t0 && e.kind === 'inquorate')?.t ?? null;
    const maj = majority.map((n) => d.logEvents!(n).find((e) => e.t >= t0 && e.kind === 'members' && sameSet(e.members, majority))?.t ?? null);
    const majFirst = maj.every((t) => t !== null) ? Math.min(...(maj as number[])) : null;
    const majLast = maj.every((t) => t !== null) ? Math.max(...(maj as number[])) : null;
    rec.log = {
      minorityInquorateMs: inq === null ? null : inq - t0,
      majorityMembersMs: majLast === null ? null : majLast - t0,
      // The first majority node to log the new membership vs the minority logging that it gave up.
      overlapMs: inq === null || majFirst === null ? null : Math.max(0, inq - majFirst),
    };
  }
  await d.heal();
  return rec;
}

/**
 * Two sides quorate at once, from the answers alone. An answer describes the node at some
 * moment between asking and receiving. The minority was quorate from before the cut until it
 * gave up, and a majority node's new membership, once formed, stays: so a minority "quorate"
 * asked after a majority answer "quorate without the minority" was received proves an
 * overlap (lower bound), and the overlap cannot have started before the last older-state
 * answer of a majority node was asked, nor lasted past the first minority "not quorate"
 * received (upper bound).
 */
function overlapOf(samples: Sample[], minority: string, majority: string[], from: number): Overlap {
  const answers = samples.filter((x) => x.s && x.sent >= from).sort((a, b) => a.t - b.t);
  const moved = (x: Sample): boolean => majority.includes(x.node) && x.s!.quorate && !x.s!.members.includes(minority);
  const o: Overlap = { instants: 0, disjointInstants: 0, provenMs: 0, possibleMs: 0 };
  const firstMoved = answers.filter(moved);
  if (firstMoved.length === 0) return o;
  const earliestMovedT = firstMoved[0]!.t;
  for (const a of answers) {
    if (a.node !== minority || !a.s!.quorate) continue;
    // Strictly after: answers within the same millisecond do not order the two.
    const proof = firstMoved.filter((b) => b.t < a.sent);
    if (proof.length === 0) continue;
    o.instants++;
    if (proof.some((b) => !b.s!.members.some((m) => a.s!.members.includes(m)))) o.disjointInstants++;
    o.provenMs = Math.max(o.provenMs, a.sent - earliestMovedT);
  }
  // Upper bound: from the earliest moment a majority node may have moved...
  let start = Infinity;
  for (const n of majority) {
    const mine = answers.filter((x) => x.node === n);
    const i = mine.findIndex(moved);
    if (i < 0) continue;
    start = Math.min(start, i > 0 ? mine[i - 1]!.sent : from);
  }
  // ...until the minority is known to have given up (or the end of the observation).
  const minorityAnswers = answers.filter((x) => x.node === minority);
  const gaveUp = minorityAnswers.find((x) => !x.s!.quorate)?.t ?? minorityAnswers.at(-1)?.t ?? start;
  o.possibleMs = Math.max(0, gaveUp - start);
  return o;
}

// ---------------------------------------------------------------- one configuration

interface ConfigResult {
  spec: ConfigSpec;
  facts: Record<string, string>;
  startMs: number | null;
  trials: Trial[];
  error?: string;
}

let current: Driver | null = null;

async function runConfig(spec: ConfigSpec): Promise<ConfigResult> {
  const res: ConfigResult = { spec, facts: {}, startMs: null, trials: [] };
  const fresh = async (): Promise<Driver> => {
    const d = spec.kind === 'ours' ? await OursDriver.create(spec) : new CorosyncDriver(spec, corosyncStatus as 'monitor' | 'poll');
    current = d;
    const s = Date.now();
    try {
      await d.start();
    } catch (err) {
      await d.close().catch(() => undefined);
      throw err;
    }
    res.startMs ??= Date.now() - s;
    return d;
  };
  let d: Driver | null = null;
  try {
    d = await fresh();
    res.facts = await d.facts().catch((e: Error) => ({ error: e.message }));
    for (const kind of ['kill', 'partition'] as const) {
      for (let i = 0; i < spec.trials; i++) {
        try {
          if (!d) d = await fresh();
          const t = kind === 'kill' ? await killTrial(spec, d, i) : await partitionTrial(spec, d, i);
          res.trials.push(t);
          note(spec, t);
        } catch (err) {
          // The cluster did not come back: record it and start the next trial on a fresh one.
          res.trials.push({ config: spec.id, kind, trial: i, error: (err as Error).message } as Trial);
          process.stderr.write(`  ${spec.id} ${kind} #${i}: ${(err as Error).message.split('\n')[0]}\n`);
          await d?.close().catch(() => undefined);
          d = null;
        }
      }
    }
  } catch (err) {
    res.error = (err as Error).message;
    process.stderr.write(`${spec.label}: ${res.error}\n`);
  } finally {
    await d?.close().catch(() => undefined);
    current = null;
  }
  return res;
}

function note(spec: ConfigSpec, t: Trial): void {
  const f = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : String(Math.round(v)));
  const body =
    t.kind === 'kill'
      ? `kill ${t.victim} (${t.role}): ${f(t.ms)} ms${t.logMs !== undefined ? `, log ${f(t.logMs)}` : ''}`
      : `partition ${t.victim} (${t.role}): minority ${f(t.minorityInquorateMs ?? t.minorityAloneMs)} ms, majority ${f(t.majorityQuorateMs)} ms, both quorate ${t.overlap.instants}x, proven ${f(t.overlap.provenMs)} ms, possible ${f(t.overlap.possibleMs)} ms`;
  process.stderr.write(`  ${spec.id} #${t.trial} ${body}${t.error ? ` ERROR ${t.error.split('\n')[0]}` : ''}\n`);
}

// ---------------------------------------------------------------- report

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  label: string;
  pick: (t: Trial) => number | null | undefined;
  /** For rows ours has no value in (corosync's log): what ours is compared with. */
  ours?: (t: Trial) => number | null | undefined;
  /** Counts and overlaps: a ratio means nothing there. */
  noRatio?: boolean;
}

const kill = (t: Trial): t is KillTrial => t.kind === 'kill';
const part = (t: Trial): t is PartitionTrial => t.kind === 'partition' && !t.error;
const partAny = (t: Trial): t is PartitionTrial => t.kind === 'partition';

const killRows: Row[] = [
  { label: 'kill -9 leader: survivors agree', pick: (t) => (kill(t) && t.role === 'leader' ? t.ms : undefined) },
  { label: 'kill -9 follower: survivors agree', pick: (t) => (kill(t) && t.role === 'follower' ? t.ms : undefined) },
  { label: 'kill -9 any: survivors agree', pick: (t) => (kill(t) ? t.ms : undefined) },
  { label: '  same, from corosync log', pick: (t) => (kill(t) ? t.logMs : undefined), ours: (t) => (kill(t) ? t.ms : undefined) },
];
const partRows: Row[] = [
  { label: 'partition: minority not quorate', pick: (t) => (partAny(t) ? t.minorityInquorateMs : undefined) },
  { label: '  isolated leader', pick: (t) => (partAny(t) && t.role === 'leader' ? t.minorityInquorateMs : undefined) },
  { label: '  isolated follower', pick: (t) => (partAny(t) && t.role === 'follower' ? t.minorityInquorateMs : undefined) },
  { label: '  from corosync log', pick: (t) => (partAny(t) ? t.log?.minorityInquorateMs : undefined), ours: (t) => (partAny(t) ? t.minorityInquorateMs : undefined) },
  { label: 'partition: majority quorate', pick: (t) => (partAny(t) ? t.majorityQuorateMs : undefined) },
  { label: '  isolated leader', pick: (t) => (partAny(t) && t.role === 'leader' ? t.majorityQuorateMs : undefined) },
  { label: '  isolated follower', pick: (t) => (partAny(t) && t.role === 'follower' ? t.majorityQuorateMs : undefined) },
  { label: '  from corosync log', pick: (t) => (partAny(t) ? t.log?.majorityMembersMs : undefined), ours: (t) => (partAny(t) ? t.majorityQuorateMs : undefined) },
  { label: 'both sides quorate: instants', noRatio: true, pick: (t) => (part(t) ? t.overlap.instants : undefined) },
  { label: '  with disjoint memberships', noRatio: true, pick: (t) => (part(t) ? t.overlap.disjointInstants : undefined) },
  { label: '  proven ms (lower bound)', noRatio: true, pick: (t) => (part(t) ? t.overlap.provenMs : undefined) },
  { label: '  possible ms (upper bound)', noRatio: true, pick: (t) => (part(t) ? t.overlap.possibleMs : undefined) },
  { label: '  from corosync log, ms', noRatio: true, pick: (t) => (part(t) ? t.log?.overlapMs : undefined) },
];
const twoNodeRows: Row[] = [
  { label: 'kill -9: survivor alone', pick: (t) => (kill(t) ? t.ms : undefined) },
  { label: '  from corosync log', pick: (t) => (kill(t) ? t.logMs : undefined) },
  { label: 'partition: both sides alone', pick: (t) => (partAny(t) ? Math.max(t.minorityAloneMs ?? NaN, t.majorityQuorateMs ?? NaN) : undefined) },
  { label: 'both sides quorate: instants', noRatio: true, pick: (t) => (part(t) ? t.overlap.instants : undefined) },
  { label: '  with disjoint memberships', noRatio: true, pick: (t) => (part(t) ? t.overlap.disjointInstants : undefined) },
  { label: '  proven ms (until heal)', pick: (t) => (part(t) ? t.overlap.provenMs : undefined) },
];

function stats(r: ConfigResult | undefined, row: Row): { med: number | null; max: number | null; n: number; failed: number } {
  if (!r) return { med: null, max: null, n: 0, failed: 0 };
  const picked = r.trials.map((t) => row.pick(t)).filter((v) => v !== undefined);
  const vals = picked.filter((v): v is number => v !== null && Number.isFinite(v));
  return { med: median(vals), max: vals.length ? Math.max(...vals) : null, n: vals.length, failed: picked.length - vals.length };
}

function table(results: ConfigResult[], cols: string[], rows: Row[], ratioAgainst: string[]): string {
  const byId = new Map(results.map((r) => [r.spec.id, r]));
  const present = cols.filter((c) => byId.has(c));
  const fmt = (v: number | null): string => (v === null ? '-' : v >= 100 ? String(Math.round(v)) : v.toFixed(v % 1 ? 1 : 0));
  const head = ['measurement (ms; median / max)'.padEnd(40), ...present.map((c) => byId.get(c)!.spec.label.padStart(22))];
  const ratioCols = byId.has('ours') ? ratioAgainst.filter((c) => byId.has(c)) : [];
  head.push(...ratioCols.map((c) => `ours/${byId.get(c)!.spec.label.replace(/^corosync ?/, 'cs ') || 'cs'}`.padStart(16)));
  const lines = [head.join('')];
  for (const row of rows) {
    const cells = present.map((c) => {
      const s = stats(byId.get(c), row);
      const txt = s.n === 0 && s.failed === 0 ? '' : `${fmt(s.med)} / ${fmt(s.max)}${s.failed ? ` (${s.failed} failed)` : ''}`;
      return txt.padStart(22);
    });
    const ours = stats(byId.get('ours'), { ...row, pick: row.ours ?? row.pick }).med;
    const ratios = ratioCols.map((c) => {
      const other = stats(byId.get(c), row).med;
      return (!row.noRatio && ours !== null && other ? (ours / other).toFixed(2) : '').padStart(16);
    });
    if (cells.every((c) => c.trim() === '')) continue;
    lines.push(row.label.padEnd(40) + cells.join('') + ratios.join(''));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

function corosyncVersion(): string {
  const r = spawnSync('corosync', ['-v'], { encoding: 'utf8', timeout: 5000 });
  return /version '([^']+)'/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('cluster-failover: needs root (network namespaces and iptables)');
  const specs: ConfigSpec[] = [];
  if (only !== 'corosync') specs.push({ id: 'ours', label: 'ours', kind: 'ours', nodes: nodeCount, trials });
  if (only !== 'ours') {
    specs.push({ id: 'corosync', label: 'corosync', kind: 'corosync', nodes: nodeCount, trials });
    specs.push({ id: 'corosync-1000', label: 'corosync token=1000', kind: 'corosync', nodes: nodeCount, tokenMs: 1000, trials });
    if (twoNodeTrials > 0) specs.push({ id: 'corosync-2node', label: 'corosync 2node', kind: 'corosync', nodes: 2, twoNode: true, trials: twoNodeTrials });
  }
  const started = Date.now();
  const loadBefore = os.loadavg()[0]!;
  const results: ConfigResult[] = [];
  for (const spec of specs) {
    process.stderr.write(`${spec.label}: ${spec.nodes} nodes, ${spec.trials} kill + ${spec.trials} partition trials\n`);
    results.push(await runConfig(spec));
  }
  const meta = {
    date: new Date(started).toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    cpus: os.cpus().length,
    node: process.version,
    corosync: corosyncVersion(),
    trials,
    nodes: nodeCount,
    pollMs,
    holdMs,
    corosyncStatus,
    corosyncCut,
    // Other work on the machine slows our (unprivileged) daemons; corosync runs SCHED_RR.
    loadavg1: [loadBefore, os.loadavg()[0]!].map((x) => Math.round(x * 100) / 100),
  };
  const out = [
    `${meta.date}  ${nodeCount} nodes, ${trials} trials per measurement, poll ${pollMs} ms, hold ${holdMs} ms, corosync status by ${corosyncStatus}, cut at ${corosyncCut}, cpus=${meta.cpus} load ${meta.loadavg1.join('->')} node=${meta.node} corosync=${meta.corosync}, ${meta.durationS} s`,
    '',
    table(results, ['ours', 'corosync', 'corosync-1000'], [...killRows, ...partRows], ['corosync', 'corosync-1000']),
  ];
  if (results.some((r) => r.spec.id === 'corosync-2node')) {
    out.push('', 'context: corosync, 2 nodes, two_node: 1, defaults', table(results, ['corosync-2node'], twoNodeRows, []));
  }
  for (const r of results) {
    const spacing = median(r.trials.map((t) => (t as KillTrial).pollSpacingMs).filter((x): x is number => typeof x === 'number'));
    out.push(`${r.spec.label}: start ${r.startMs ?? '-'} ms, answers every ${spacing ?? '-'} ms per node, ${Object.entries(r.facts).map(([k, v]) => `${k}=${v}`).join(' ')}${r.error ? `  ERROR ${r.error.split('\n')[0]}` : ''}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  if (outFile) {
    fs.writeFileSync(outFile, JSON.stringify({ meta, configs: results }, null, 2) + '\n');
    process.stderr.write(`raw trials written to ${outFile}\n`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    closeAllCorosyncLabsSync();
    const d = current;
    const exit = (): never => process.exit(130);
    setTimeout(exit, 5000).unref();
    if (d) void d.close().catch(() => undefined).finally(exit);
    else exit();
  });
}

main().catch((err: Error) => {
  process.stderr.write(`cluster-failover: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
