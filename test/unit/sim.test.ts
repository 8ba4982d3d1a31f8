// The deterministic simulator over a fixed set of seeds, as CI runs it: 600 two-node and
// 300 three-node seeds from a base (env SIM_SEED_BASE, e.g. derived from the commit hash;
// default 1), spread over two worker threads. A failure names the seed and the command
// that replays it. Also: the same seed gives the same run twice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSeed } from '../../src/sim/replication-sim.js';

interface Job {
  nodes: 2 | 3;
  seeds: number[];
}

interface Outcome {
  nodes: number;
  seed: number;
  ok: boolean;
  failure: string | null;
  steps: number;
}

const TWO_NODE_SEEDS = 600;
const THREE_NODE_SEEDS = 300;
const WORKERS = 2;

function runJobs(jobs: Job[]): Outcome[] {
  const out: Outcome[] = [];
  for (const job of jobs) {
    for (const seed of job.seeds) {
      const r = runSeed(seed, { nodeCount: job.nodes });
      out.push({ nodes: job.nodes, seed, ok: r.ok, failure: r.failure, steps: r.steps });
    }
  }
  return out;
}

if (!isMainThread && workerData && (workerData as { simSeeds?: Job[] }).simSeeds) {
  parentPort!.postMessage(runJobs((workerData as { simSeeds: Job[] }).simSeeds));
} else if (isMainThread) {
  const base = Number(process.env.SIM_SEED_BASE ?? 1);
  if (!Number.isSafeInteger(base) || base < 0) throw new Error(`SIM_SEED_BASE must be a non-negative integer, got ${process.env.SIM_SEED_BASE}`);

  test(`simulator: ${TWO_NODE_SEEDS} two-node and ${THREE_NODE_SEEDS} three-node seeds from base ${base}`, { timeout: 300_000 }, async () => {
    console.log(`# sim seed base ${base} (override with SIM_SEED_BASE)`);
    const chunks: Job[][] = Array.from({ length: WORKERS }, () => []);
    const seeds = (n: number): number[] => Array.from({ length: n }, (_, i) => base + i);
    // Interleave so both workers get a similar share of the slower three-node runs.
    for (const [nodes, list] of [
      [2, seeds(TWO_NODE_SEEDS)],
      [3, seeds(THREE_NODE_SEEDS)],
    ] as const) {
      for (let w = 0; w < WORKERS; w++) chunks[w]!.push({ nodes, seeds: list.filter((_, i) => i % WORKERS === w) });
    }
    const started = process.hrtime.bigint();
    const results = (
      await Promise.all(
        chunks.map(
          (jobs) =>
            new Promise<Outcome[]>((resolve, reject) => {
              const w = new Worker(new URL(import.meta.url), { workerData: { simSeeds: jobs } });
              w.once('message', (m: Outcome[]) => resolve(m));
              w.once('error', reject);
              w.once('exit', (code) => {
                if (code !== 0) reject(new Error(`simulator worker exited with ${code}`));
              });
            }),
        ),
      )
    ).flat();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const steps = results.reduce((a, r) => a + r.steps, 0);
    console.log(`# ${results.length} runs, ${steps} steps in ${seconds.toFixed(1)} s (${Math.round(steps / seconds)} steps/s)`);
    const failed = results.filter((r) => !r.ok);
    const report = failed
      .slice(0, 20)
      .map((r) => `seed ${r.seed} (${r.nodes} nodes): ${r.failure}\n  replay: npx tsc -p tsconfig.json && node dist/src/sim/cli.js --seed ${r.seed} --nodes ${r.nodes}`)
      .join('\n');
    assert.equal(failed.length, 0, `${failed.length} simulator run(s) failed:\n${report}`);
  });

  test('simulator: the same seed replays the same run', () => {
    for (const [seed, nodes] of [
      [base, 2],
      [base + 1, 3],
      [base + 7, 3],
    ] as const) {
      const a = runSeed(seed, { nodeCount: nodes });
      const b = runSeed(seed, { nodeCount: nodes });
      assert.equal(a.steps, b.steps, `seed ${seed}: step counts differ`);
      assert.equal(a.simulatedMs, b.simulatedMs, `seed ${seed}: simulated time differs`);
      assert.equal(a.failure, b.failure, `seed ${seed}: outcomes differ`);
      assert.deepEqual(a.stats, b.stats, `seed ${seed}: stats differ`);
      assert.deepEqual(a.log, b.log, `seed ${seed}: logs differ`);
    }
  });
}
