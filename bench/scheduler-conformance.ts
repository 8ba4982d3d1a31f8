// Runs every Pacemaker 2.1.5 regression case through our scheduler and compares
// with crm_simulate's output the way upstream does: whitespace-insensitive,
// blank lines ignored, score lines sorted.
// Usage: node dist/bench/scheduler-conformance.js [--data DIR] [--results DIR] [--only NAME] [--write-passing]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simulate } from '../src/scheduler/simulate.js';

export function normalizeLines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\s+/g, '')).filter((l) => l.length > 0);
}

export interface CaseResult {
  readonly name: string;
  readonly tier: string;
  readonly summary: boolean;
  readonly scores: boolean;
  readonly error?: string;
  readonly actual?: string;
  readonly actualScores?: string;
}

export function defaultDataDir(): string {
  for (const d of [process.env['SCHEDULER_DATA'], '../shared/data/pacemaker-scheduler-2.1.5', '/work/shared/data/pacemaker-scheduler-2.1.5']) {
    if (d && existsSync(join(d, 'tiers.tsv'))) return resolve(d);
  }
  throw new Error('scheduler data not found; set SCHEDULER_DATA');
}

export function readTiers(dataDir: string): { name: string; tier: string }[] {
  return readFileSync(join(dataDir, 'tiers.tsv'), 'utf8').split('\n').slice(1).filter((l) => l.trim()).map((l) => {
    const [name, tier] = l.split('\t');
    return { name: name!, tier: tier! };
  });
}

// A fixed "now" for CIBs without execution-date, far from any failure timestamp in the data.
const FALLBACK_NOW = Math.floor(Date.UTC(2026, 0, 1) / 1000);

export function runCase(dataDir: string, name: string, tier: string): CaseResult {
  const xml = readFileSync(join(dataDir, 'xml', `${name}.xml`), 'utf8');
  const expected = readFileSync(join(dataDir, 'summary', `${name}.summary`), 'utf8');
  const expScoresPath = join(dataDir, 'scores', `${name}.scores`);
  const expectedScores = existsSync(expScoresPath) ? readFileSync(expScoresPath, 'utf8') : '';
  try {
    const r = simulate(xml, { now: FALLBACK_NOW }, `${name}.xml`);
    const summary = normalizeLines(r.text).join('\n') === normalizeLines(expected).join('\n');
    const sortedExp = normalizeLines(expectedScores).sort().join('\n');
    const sortedAct = normalizeLines(r.scores.join('\n')).sort().join('\n');
    return { name, tier, summary, scores: sortedExp === sortedAct, actual: r.text, actualScores: [...r.scores].sort().join('\n') + '\n' };
  } catch (e) {
    return { name, tier, summary: false, scores: false, error: (e as Error).stack ?? String(e) };
  }
}

function main(argv: string[]): number {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dataDir = arg('--data') ?? defaultDataDir();
  const resultsDir = arg('--results') ?? 'results/scheduler';
  const only = arg('--only');
  mkdirSync(resultsDir, { recursive: true });
  const cases = readTiers(dataDir).filter((c) => !only || c.name === only);
  const perTier = new Map<string, { n: number; summary: number; scores: number }>();
  const passingSummaries: string[] = [];
  const passingScores: string[] = [];
  for (const c of cases) {
    const r = runCase(dataDir, c.name, c.tier);
    const t = perTier.get(c.tier) ?? { n: 0, summary: 0, scores: 0 };
    t.n++;
    if (r.summary) { t.summary++; passingSummaries.push(c.name); }
    if (r.scores) { t.scores++; passingScores.push(c.name); }
    perTier.set(c.tier, t);
    const body = r.error ? `ERROR\n${r.error}\n` : `${r.summary ? 'PASS' : 'FAIL'} summary, ${r.scores ? 'PASS' : 'FAIL'} scores\n\n${r.actual}\n--- scores\n${r.actualScores}`;
    writeFileSync(join(resultsDir, `${c.name}.result`), body);
    if (only) process.stdout.write(body);
  }
  for (const tier of ['1', '1x', '2', '3']) {
    const t = perTier.get(tier);
    if (!t) continue;
    const pct = (x: number): string => `${((100 * x) / t.n).toFixed(1)}%`;
    console.log(`tier ${tier.padEnd(2)}: summaries ${t.summary}/${t.n} (${pct(t.summary)}), scores ${t.scores}/${t.n} (${pct(t.scores)})`);
  }
  if (argv.includes('--write-passing')) {
    // The lists only grow: refuse to write them while a listed case fails.
    const dir = 'test/fixtures/scheduler';
    const listed = (file: string): string[] =>
      existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : [];
    const oldSummaries = listed('passing-summaries.txt');
    const oldScores = listed('passing-scores.txt');
    const nowSummaries = new Set(passingSummaries);
    const nowScores = new Set(passingScores);
    const broken = [
      ...oldSummaries.filter((n) => !nowSummaries.has(n) && (!only || n === only)).map((n) => `${n} (summary)`),
      ...oldScores.filter((n) => !nowScores.has(n) && (!only || n === only)).map((n) => `${n} (scores)`),
    ];
    if (broken.length > 0) {
      console.error(`not writing the passing lists: listed cases now fail:\n  ${broken.join('\n  ')}`);
      return 1;
    }
    mkdirSync(dir, { recursive: true });
    const union = (a: string[], b: string[]): string => [...new Set([...a, ...b])].sort().join('\n') + '\n';
    writeFileSync(join(dir, 'passing-summaries.txt'), union(oldSummaries, passingSummaries));
    writeFileSync(join(dir, 'passing-scores.txt'), union(oldScores, passingScores));
    console.log(`passing lists: ${nowSummaries.size} summaries (was ${oldSummaries.length}), ${nowScores.size} scores (was ${oldScores.length})`);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = main(process.argv.slice(2));
}
