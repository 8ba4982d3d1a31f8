// `node dist/src/sim/cluster-cli.js --seed N [--seeds COUNT] [--nodes K] [--verbose] [--trace]`
// Simulates the cluster engine. Prints the seed first; the same seed replays the same run.

import { medianMax, runSeed, type ClusterSimOptions } from './cluster-sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intArg(name: string, fallback: number, min: number, max: number): number {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    console.error(`--${name}: expected an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return v;
}

const first = intArg('seed', Date.now() % 1_000_000, 0, 2 ** 32 - 1);
const count = intArg('seeds', 1, 1, 10_000_000);
const overrides: Partial<ClusterSimOptions> = {};
const nodes = arg('nodes');
if (nodes !== undefined) overrides.nodeCount = intArg('nodes', 3, 2, 5);
const verbose = process.argv.includes('--verbose');
if (count === 1) overrides.logLines = 20_000;
if (process.argv.includes('--trace')) {
  overrides.trace = true;
  overrides.logLines = 200_000;
}

let failed = 0;
let steps = 0;
let simulatedMs = 0;
/** Detection times in units of the run's token, and in ms for runs with the default token (1000). */
const detectionTokens: number[] = [];
const detections1000: number[] = [];
const started = process.hrtime.bigint();
for (let seed = first; seed < first + count; seed++) {
  if (count === 1) console.log(`seed ${seed}`);
  const r = runSeed(seed, overrides);
  steps += r.steps;
  simulatedMs += r.simulatedMs;
  detectionTokens.push(...r.detectionsMs.map((d) => d / r.tokenMs));
  if (r.tokenMs === 1000) detections1000.push(...r.detectionsMs);
  if (!r.ok || verbose || count === 1) {
    if (!r.ok) failed++;
    console.log(`seed ${seed}: ${r.ok ? 'ok' : 'FAILED'} after ${r.steps} steps, ${r.simulatedMs} simulated ms; ${r.config}`);
    if (!r.ok) console.log(`  ${r.failure}`);
    if (verbose || count === 1) for (const line of r.log) console.log(`  | ${line}`);
    console.log(`  stats ${JSON.stringify(r.stats)} detections ${JSON.stringify(r.detectionsMs.map((d) => Math.round(d)))}`);
    if (!r.ok) console.log(`  replay: node dist/src/sim/cluster-cli.js --seed ${seed}${overrides.nodeCount ? ` --nodes ${overrides.nodeCount}` : ''}`);
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const d = medianMax(detections1000);
const dt = medianMax(detectionTokens);
console.log(
  `${count} seed(s) from ${first}: ${count - failed} passed, ${failed} failed; ${steps} steps in ${seconds.toFixed(1)} s ` +
    `(${Math.round(steps / seconds)} steps/s, ${(simulatedMs / 1000 / seconds).toFixed(0)}x real time)\n` +
    `crash of a member to the survivors' new membership, quiet network: token 1000: ${detections1000.length} samples, median ${Math.round(d.median)} ms, max ${Math.round(d.max)} ms; ` +
    `all tokens: ${detectionTokens.length} samples, median ${dt.median.toFixed(2)} x token, max ${dt.max.toFixed(2)} x token`,
);
process.exitCode = failed > 0 ? 1 : 0;
