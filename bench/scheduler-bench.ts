// Scheduler benchmark (run by hand, not in CI): our scheduler against Debian's crm_simulate 2.1.5
// on generated clusters (bench/cib-generator.ts).
//
//   npm run build && node dist/bench/scheduler-bench.js [--sizes 3x100,16x1000,32x5000] [--runs 3]
//        [--seed 1] [--groups] [--budget 20] [--simulate-max 100] [--keep DIR] [--json FILE]
//
// Per size NODESxPRIMITIVES, one CIB is generated and each of these is timed --runs times (median):
//   scheduling run alone:
//     ours -R (in process)  parse + unpack + schedule + current status + transition summary
//     crm_simulate -R       `crm_simulate -R -x FILE`, process wall time
//   scheduling run plus simulated execution and revised status:
//     ours -S (in process)  simulate(xml): the work of `safeside simulate`
//     ours -S (process)     `node bin/safeside simulate --xml FILE`, wall time end to end
//     crm_simulate -S       `crm_simulate -S -x FILE`, process wall time
//     crm_simulate -S -Q    the same without the status displays
// In-process figures come after one untimed warm-up run in this process. Each series stops
// repeating once its runs add up to --budget seconds. crm_simulate -S runs only for sizes up to
// --simulate-max primitives: its simulated execution takes minutes beyond (16x1000: > 180 s).
// The transition summaries (and the whole -S text) of ours and crm_simulate are compared,
// whitespace-insensitively as upstream compares; differences are printed, never hidden.
// Method and results: docs/scheduler-bench.md.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseCib } from '../src/scheduler/cib/parse.js';
import { formatStatus } from '../src/scheduler/format/status.js';
import { formatTransitionSummary } from '../src/scheduler/format/transition.js';
import { parseStatus } from '../src/scheduler/status/parse-status.js';
import { schedule, simulate } from '../src/scheduler/simulate.js';
import { BENCH_NOW, generateCib, type GeneratedCib } from './cib-generator.js';

const CRM_SIMULATE = process.env['CRM_SIMULATE'] ?? '/usr/sbin/crm_simulate';
const PROCESS_TIMEOUT_MS = 180_000;

interface Size { readonly nodes: number; readonly primitives: number }

interface SizeResult {
  readonly size: string;
  readonly stats: GeneratedCib['stats'];
  readonly xmlBytes: number;
  readonly oursRunMs: number[];
  readonly crmRunMs: number[];
  readonly oursInProcessMs: number[];
  readonly oursProcessMs: number[];
  readonly crmMs: number[];
  readonly crmQuietMs: number[];
  readonly summaryLines: { ours: number; crm: number };
  readonly summaryMatch: boolean;
  readonly fullMatch: boolean;
  /** Which crm_simulate output the summary was compared with. */
  readonly compared: '-S' | '-R';
  readonly summaryDiff: string[];
  readonly errors: string[];
}

function parseArgs(argv: string[]): BenchOptions & { sizes: Size[]; keep?: string; json?: string } {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v;
  };
  const known = new Set(['--sizes', '--runs', '--seed', '--groups', '--budget', '--simulate-max', '--keep', '--json']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}; expected one of ${[...known].join(', ')}`);
  const sizes = (val('--sizes') ?? '3x100,16x1000,32x5000').split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) < 2 || Number(m[2]) < 1) throw new Error(`--sizes: "${s}" is not NODESxPRIMITIVES with NODES >= 2 (e.g. 16x1000)`);
    return { nodes: Number(m[1]), primitives: Number(m[2]) };
  });
  const int = (name: string, dflt: number, min: number): number => {
    const v = val(name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${name}: "${v}" is not an integer >= ${min}`);
    return Number(v);
  };
  return {
    sizes, runs: int('--runs', 3, 1), seed: int('--seed', 1, 0), groups: argv.includes('--groups'),
    budgetMs: int('--budget', 20, 0) * 1000, simulateMax: int('--simulate-max', 100, 0), keep: val('--keep'), json: val('--json'),
  };
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const norm = (text: string): string[] => text.split('\n').map((l) => l.replace(/\s+/g, '')).filter((l) => l.length > 0);

/** The lines between "Transition Summary:" and the next section, as printed. */
function transitionSummary(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Transition Summary:');
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^\S.*:$/.test(l)) break;
    if (l.trim()) out.push(l.replace(/\s+/g, ' ').trim());
  }
  return out;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; stdout: string; error?: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: PROCESS_TIMEOUT_MS, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.error) return { ms, stdout: '', error: `${cmd}: ${r.error.message}` };
  if (r.status !== 0) return { ms, stdout: r.stdout, error: `${[cmd, ...args].join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.split('\n').slice(0, 3).join(' | ')}` };
  return { ms, stdout: r.stdout };
}

function diffLines(ours: string[], ref: string[], limit: number): string[] {
  const count = (xs: string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const a = count(ours), b = count(ref);
  const out: string[] = [];
  for (const [l, n] of b) for (let i = a.get(l) ?? 0; i < n; i++) out.push(`- crm_simulate: ${l}`);
  for (const [l, n] of a) for (let i = b.get(l) ?? 0; i < n; i++) out.push(`+ ours:         ${l}`);
  if (ours.length === ref.length && out.length === 0 && ours.join('\n') !== ref.join('\n')) out.push('  (same lines, different order)');
  return out.length > limit ? [...out.slice(0, limit), `  ... ${out.length - limit} more`] : out;
}

interface BenchOptions {
  readonly runs: number;
  readonly seed: number;
  readonly groups: boolean;
  /** Stop repeating a measurement once its runs add up to this (at least one run). */
  readonly budgetMs: number;
  /** crm_simulate -S only up to this many primitives: its simulated execution is slow. */
  readonly simulateMax: number;
}

function benchSize(size: Size, o: BenchOptions, dir: string, safeside: string): SizeResult {
  const label = `${size.nodes}x${size.primitives}`;
  const cib = generateCib({ nodes: size.nodes, primitives: size.primitives, seed: o.seed, groups: o.groups });
  const file = join(dir, `cib-${label}.xml`);
  writeFileSync(file, cib.xml);
  const env = { ...process.env, LC_ALL: 'C', CIB_shadow_dir: dir };
  const errors: string[] = [];
  const log = (s: string): void => { process.stderr.write(`[${label}] ${s}\n`); };
  const repeat = (name: string, once: () => number | undefined): number[] => {
    const ms: number[] = [];
    let total = 0;
    for (let i = 0; i < o.runs && (i === 0 || total < o.budgetMs); i++) {
      const t = once();
      if (t === undefined) break;
      ms.push(t);
      total += t;
    }
    log(`${name}: ${ms.map((t) => t.toFixed(0)).join(', ') || '-'} ms`);
    return ms;
  };

  // Ours in process. The first simulate() is the untimed warm-up (JIT, lazy module state)
  // and gives the text compared with crm_simulate.
  let ours = '';
  let oursRunMs: number[] = [];
  let oursInProcessMs: number[] = [];
  const runOnly = (): string[] => {
    const { root, config } = parseCib(cib.xml, file);
    const { ws } = schedule(config, parseStatus(root), BENCH_NOW);
    return [...formatStatus(ws), ...formatTransitionSummary(ws)];
  };
  const clock = (f: () => unknown): number => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  try {
    ours = simulate(cib.xml, { now: BENCH_NOW }, file).text;
    oursRunMs = repeat('ours -R in process', () => clock(runOnly));
    oursInProcessMs = repeat('ours -S in process', () => clock(() => simulate(cib.xml, { now: BENCH_NOW }, file)));
  } catch (e) {
    errors.push(`ours: ${(e as Error).message.split('\n')[0]}`);
  }

  const series = (name: string, cmd: string, args: string[]): { ms: number[]; stdout: string } => {
    let stdout = '';
    const ms = repeat(name, () => {
      const r = timed(cmd, args, env);
      if (r.error) { errors.push(`${name}: ${r.error}`); return undefined; }
      stdout = r.stdout;
      return r.ms;
    });
    return { ms, stdout };
  };
  const none = { ms: [] as number[], stdout: '' };
  const haveCrm = existsSync(CRM_SIMULATE);
  if (!haveCrm) errors.push(`${CRM_SIMULATE} not installed (package pacemaker-cli-utils)`);
  const crmRun = haveCrm ? series('crm_simulate -R', CRM_SIMULATE, ['-R', '-x', file]) : none;
  const oursProc = series('ours -S process', process.execPath, [safeside, 'simulate', '--xml', file]);
  const withS = haveCrm && size.primitives <= o.simulateMax;
  const crm = withS ? series('crm_simulate -S', CRM_SIMULATE, ['-S', '-x', file]) : none;
  const crmQ = withS ? series('crm_simulate -S -Q', CRM_SIMULATE, ['-S', '-Q', '-x', file]) : none;
  if (oursProc.stdout && ours && norm(oursProc.stdout).join('\n') !== norm(ours).join('\n')) {
    const got = Buffer.byteLength(oursProc.stdout), want = Buffer.byteLength(ours);
    errors.push(ours.startsWith(oursProc.stdout)
      ? `ours: \`safeside simulate\` output cut short: ${got} of ${want} bytes reached the pipe`
      : `ours: \`safeside simulate\` output differs from in-process simulate() (${diffLines(norm(oursProc.stdout), norm(ours), Infinity).length} lines)`);
  }
  // The summary is compared with -S when it ran, else with -R (the same summary).
  const ref = crm.stdout || crmRun.stdout;
  const so = transitionSummary(ours), sc = transitionSummary(ref);
  if (crmRun.stdout && crm.stdout && transitionSummary(crmRun.stdout).join('\n') !== sc.join('\n')) errors.push('crm_simulate: -R and -S summaries differ');
  const summaryMatch = ours !== '' && ref !== '' && so.join('\n') === sc.join('\n');
  const fullMatch = ours !== '' && crm.stdout !== '' && norm(ours).join('\n') === norm(crm.stdout).join('\n');
  return {
    size: label, stats: cib.stats, xmlBytes: Buffer.byteLength(cib.xml),
    oursRunMs, crmRunMs: crmRun.ms, oursInProcessMs, oursProcessMs: oursProc.ms, crmMs: crm.ms, crmQuietMs: crmQ.ms,
    summaryLines: { ours: so.length, crm: sc.length }, summaryMatch, fullMatch, compared: crm.stdout ? '-S' : '-R',
    summaryDiff: summaryMatch ? [] : diffLines(so, sc, 12), errors,
  };
}

function fmtMs(xs: number[]): string {
  const m = median(xs);
  return Number.isNaN(m) ? '-' : m >= 100 ? m.toFixed(0) : m.toFixed(1);
}

function ratio(a: number[], b: number[]): string {
  const r = median(a) / median(b);
  return Number.isFinite(r) ? r.toFixed(2) : '-';
}

function report(results: SizeResult[], o: BenchOptions): string {
  const rows: string[][] = [[
    'size', 'CIB', 'ours -R', 'crm -R', 'ratio', 'ours -S proc', 'proc/crm -R', 'ours -S', 'crm -S', 'crm -S -Q', 'ratio', 'proc/crm -S', 'summary',
  ]];
  for (const r of results) {
    rows.push([
      r.size, `${(r.xmlBytes / 1e6).toFixed(1)} MB`, fmtMs(r.oursRunMs), fmtMs(r.crmRunMs), ratio(r.oursRunMs, r.crmRunMs),
      fmtMs(r.oursProcessMs), ratio(r.oursProcessMs, r.crmRunMs), fmtMs(r.oursInProcessMs), fmtMs(r.crmMs), fmtMs(r.crmQuietMs),
      ratio(r.oursInProcessMs, r.crmMs), ratio(r.oursProcessMs, r.crmMs),
      r.summaryMatch ? `same as ${r.compared} (${r.summaryLines.crm} lines${r.fullMatch ? ', full -S text too' : ''})` : `DIFFERS from ${r.compared} (ours ${r.summaryLines.ours}, crm ${r.summaryLines.crm} lines)`,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => (c === 0 || c === row.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.unshift(`milliseconds, medians of up to ${o.runs} run(s) (fewer once a series passes ${o.budgetMs / 1000} s); ratio = ours / crm_simulate (< 1: ours is faster);`,
    `ours in process unless "proc"; crm_simulate -S only up to ${o.simulateMax} primitives ("-" beyond)`);
  for (const r of results) {
    const s = r.stats;
    lines.push('', `${r.size}: ${s.primitives} primitives (${s.running} running, ${s.groups} groups), ${s.locations} locations, ${s.colocations} colocations, ${s.orders} orders, ${s.historyEntries} lrm_resource entries`);
    for (const d of r.summaryDiff) lines.push(`  ${d}`);
    if (r.compared === '-S' && (!r.summaryMatch || !r.fullMatch)) lines.push(`  full -S text ${r.fullMatch ? 'same' : 'differs'}`);
    for (const e of r.errors) lines.push(`  error: ${e}`);
  }
  return lines.join('\n') + '\n';
}

function main(argv: string[]): number {
  let opts: ReturnType<typeof parseArgs>;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`scheduler-bench: ${(e as Error).message}\n`);
    return 64;
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const safeside = resolve(here, '../../bin/safeside');
  if (!existsSync(safeside)) {
    process.stderr.write(`scheduler-bench: ${safeside} not found\n`);
    return 66;
  }
  const dir = opts.keep ? resolve(opts.keep) : mkdtempSync(join(tmpdir(), 'sched-bench-'));
  if (opts.keep) mkdirSync(dir, { recursive: true });
  const results: SizeResult[] = [];
  try {
    for (const size of opts.sizes) results.push(benchSize(size, opts, dir, safeside));
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(report(results, opts));
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ options: opts, results }, null, 2) + '\n');
  return results.some((r) => r.errors.length > 0) ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
