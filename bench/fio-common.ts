// Helpers shared by the fio benchmarks (bench/nbd-fio.ts, bench/replication-fio.ts):
// command-line parsing, the fio job table, running fio against an NBD URI, child processes.

import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** One fio job: its id (for --jobs), a table label, fio arguments, and which side of fio's JSON to read. */
export interface Job {
  id: string;
  label: string;
  args: string[];
  dir: 'read' | 'write';
}

/** The value after `--name` on the command line, or `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

/** The jobs both benchmarks run (select with --jobs id,id,...). */
export const JOBS: Job[] = [
  { id: 'seqwrite', label: 'seq write 1M QD8', dir: 'write', args: ['--rw=write', '--bs=1M', '--iodepth=8', '--time_based'] },
  { id: 'randwrite16', label: 'rand write 4k QD16', dir: 'write', args: ['--rw=randwrite', '--bs=4k', '--iodepth=16', '--time_based'] },
  { id: 'randread16', label: 'rand read 4k QD16', dir: 'read', args: ['--rw=randread', '--bs=4k', '--iodepth=16', '--time_based'] },
  { id: 'randwrite1', label: 'rand write 4k QD1', dir: 'write', args: ['--rw=randwrite', '--bs=4k', '--iodepth=1', '--time_based'] },
];

/** Parse a size like 256M, 1G, 4KiB or 512 (binary units) into bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * mult;
}

/** Run a command to completion and return its stdout; rejects (with stderr) on failure or timeout. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Wait until a Unix socket file exists, then a little longer for the server to listen. */
export async function waitForSocket(p: string, timeoutMs: number): Promise<void> {
  // Existence only: a connect probe would make nbdkit log a reset connection.
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(p)) {
    if (Date.now() > deadline) throw new Error(`socket ${p} did not come up`);
    await sleep(50);
  }
  await sleep(100);
}

/** SIGTERM a child (SIGKILL after 5 s) and wait for it to exit. */
export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** One fio run: IOPS, bandwidth and mean completion latency. */
export interface Result {
  iops: number;
  bwMiBs: number;
  latUsMean: number;
}

/** Run one fio job for `runtimeS` seconds (after 1 s ramp) against an NBD URI over `sizeBytes`. */
export async function fio(job: Job, uri: string, sizeBytes: number, runtimeS: number): Promise<Result> {
  const args = [
    `--name=${job.id}`,
    '--ioengine=nbd',
    `--uri=${uri}`,
    `--size=${sizeBytes}`,
    `--runtime=${runtimeS}`,
    '--ramp_time=1',
    '--output-format=json',
    ...job.args,
  ];
  const out = await run('fio', args, (runtimeS + 60) * 1000);
  const j = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Record<string, { iops: number; bw: number; clat_ns: { mean: number } }>[] };
  const side = j.jobs[0]![job.dir]!;
  return { iops: side.iops, bwMiBs: side.bw / 1024, latUsMean: side.clat_ns.mean / 1000 };
}

/** The run with the median IOPS (the machine may be noisy). */
export function median(rs: Result[]): Result {
  return [...rs].sort((a, b) => a.iops - b.iops)[Math.floor(rs.length / 2)]!;
}
