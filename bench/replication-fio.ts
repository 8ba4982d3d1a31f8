// Replication benchmark (run by hand, not in CI): what protocol C replication costs.
//
//   npm run build && node dist/bench/replication-fio.js [--size 1G] [--runtime 8] [--repeat 3]
//        [--jobs seqwrite,randwrite16,randread16,randwrite1] [--sync-size 1G] [--no-sync] [--no-fio]
//        [--dir /var/tmp] [--sync-targets written|sparse] [--json]
//
// 1. fio, the jobs of bench/nbd-fio.ts, against the NBD export of a Primary that replicates
//    with protocol C to a Secondary (two safeside daemons on this machine, 127.0.0.1 and
//    127.0.0.2), side by side with `nbdkit file` (unreplicated) on a file of the same size.
//    Ratio = safeside IOPS / nbdkit IOPS. Writes are buffered on both sides (no FUA/flush).
// 2. Full sync: `primary --force` with a fresh peer, timed until the peer is UpToDate, against
//    `nbdcopy` between two `nbdkit file` exports of the same size. Both sources hold the same
//    random data (on a sparse source nbdcopy would skip the holes). Both targets are written
//    beforehand by default (`--sync-targets written`), as a disk that held data before: on a
//    VM, the first write to a page of guest memory the host has not backed yet costs a host
//    fault, so a sparse target measures memory first-touch (and favours whichever copy runs
//    second, on pages the first one freed) more than the copy. `--sync-targets sparse`
//    measures that case.
//
// Needs root (the daemons create loop devices), nbdkit, nbdcopy and fio.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TwoNodes as TwoNodesT } from '../test/helpers/two-node.js';
import { JOBS, arg, fio, median, parseSize, run, stop, waitForSocket, type Job, type Result } from './fio-common.js';

const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const sizeArg = arg('size', '1G');
const syncSizeArg = arg('sync-size', '1G');
const runtimeS = Number(arg('runtime', '8'));
const repeat = Math.max(1, Number(arg('repeat', '3')));
const wantJobs = arg('jobs', JOBS.map((j) => j.id).join(',')).split(',');
const baseDir = arg('dir', os.tmpdir());
const syncTargets = arg('sync-targets', 'written');
if (syncTargets !== 'written' && syncTargets !== 'sparse') throw new Error(`--sync-targets: expected 'written' or 'sparse', got '${syncTargets}'`);

function nbdkitFile(file: string, sock: string, children: ChildProcess[]): string {
  const child = spawn('nbdkit', ['--foreground', '--exit-with-parent', '--unix', sock, 'file', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return `nbd+unix:///?socket=${sock}`;
}

/**
 * Write a file 1 MiB at a time: random bytes (the copy source gets the same bytes by copying
 * the file), or zeros over an existing file, so its blocks are allocated and its pages resident.
 */
function fillFile(file: string, bytes: number, content: 'random' | 'zeros'): void {
  const fd = fs.openSync(file, content === 'random' ? 'w' : 'r+');
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let off = 0; off < bytes; off += chunk.length) {
      if (content === 'random') randomFillSync(chunk);
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    }
  } finally {
    fs.closeSync(fd);
  }
}

interface SyncRun {
  usableBytes: number;
  /** From alpha accepting `primary --force` to alpha seeing the peer UpToDate (after the target's flush), by the daemons' log clocks. */
  syncS: number;
  /** From the SyncTarget state to the target's "Resync done" (before its final flush). */
  transferS: number;
  copyFlushS: number;
  copyS: number;
}

/** Milliseconds timestamp of the first pino line of `log` whose msg matches `re`. */
function logTime(log: string, re: RegExp, what: string): number {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const rec = JSON.parse(line) as { time?: number; msg?: string };
    if (typeof rec.msg === 'string' && re.test(rec.msg) && typeof rec.time === 'number') return rec.time;
  }
  throw new Error(`no log line for ${what} (${re})`);
}

/**
 * One full sync and, on the same data, nbdcopy with and without --flush. The sync is timed
 * by the daemons' own log clocks, so the CLI's process start and status polling are not in it.
 */
async function fullSyncRun(TwoNodes: typeof TwoNodesT, pairs: TwoNodesT[], children: ChildProcess[], dir: string, syncBytes: number): Promise<SyncRun> {
  const t = await TwoNodes.create({ prefix: 'sync-bench', sizeBytes: syncBytes });
  pairs.push(t);
  const src = path.join(dir, 'copy-src.img');
  const dst = path.join(dir, 'copy-dst.img');
  try {
    process.stderr.write(`filling ${(syncBytes / 2 ** 20).toFixed(0)} MiB of random data ...\n`);
    fillFile(t.disks.alpha, syncBytes, 'random');
    fs.copyFileSync(t.disks.alpha, src);
    fs.closeSync(fs.openSync(dst, 'w'));
    fs.truncateSync(dst, syncBytes);
    if (syncTargets === 'written') for (const f of [t.disks.bravo, dst]) fillFile(f, syncBytes, 'zeros');

    for (const n of ['alpha', 'bravo'] as const) t.must(n, ['create-md', '--force', 'r0']);
    for (const n of ['alpha', 'bravo'] as const) t.must(n, ['up', 'r0']);
    await t.waitConnected(30_000);
    const usableBytes = t.status('alpha').sizeKiB * 1024;
    process.stderr.write(`full sync of ${(usableBytes / 2 ** 20).toFixed(0)} MiB ...\n`);
    t.must('alpha', ['primary', '--force', 'r0']);
    await t.waitInSync(600_000);
    const forced = logTime(t.log('alpha'), /Forced to consider local data as UpToDate/, 'primary --force');
    const peerUpToDate = logTime(t.log('alpha'), /repl\( SyncSource -> Established \), peer disk UpToDate/, 'the end of the sync');
    const targetStart = logTime(t.log('bravo'), /repl\( SyncTarget \)/, 'the start of the sync on the target');
    const targetDone = logTime(t.log('bravo'), /Resync done/, "the target's Resync done");
    await t.cleanup();
    pairs.pop();

    const copy = async (flush: boolean): Promise<number> => {
      if (syncTargets === 'written') fillFile(dst, syncBytes, 'zeros');
      const srcSock = path.join(dir, 'src.sock');
      const dstSock = path.join(dir, 'dst.sock');
      for (const sock of [srcSock, dstSock]) fs.rmSync(sock, { force: true });
      const srcUri = nbdkitFile(src, srcSock, children);
      const dstUri = nbdkitFile(dst, dstSock, children);
      await Promise.all([waitForSocket(srcSock, 10_000), waitForSocket(dstSock, 10_000)]);
      const c0 = performance.now();
      await run('nbdcopy', [...(flush ? ['--flush'] : []), srcUri, dstUri], 600_000);
      const s = (performance.now() - c0) / 1000;
      for (const c of children.splice(0)) await stop(c);
      return s;
    };
    process.stderr.write('nbdcopy ...\n');
    const copyFlushS = await copy(true);
    const copyS = await copy(false);
    return { usableBytes, syncS: (peerUpToDate - forced) / 1000, transferS: (targetDone - targetStart) / 1000, copyFlushS, copyS };
  } finally {
    fs.rmSync(src, { force: true });
    fs.rmSync(dst, { force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root: the daemons create loop devices');
  process.env.TMPDIR = baseDir; // where TwoNodes puts its temp dir
  const { TwoNodes } = await import('../test/helpers/two-node.js');
  const sizeBytes = parseSize(sizeArg);
  const syncBytes = parseSize(syncSizeArg);
  const dir = fs.mkdtempSync(path.join(baseDir, 'safeside-repl-bench-'));
  const children: ChildProcess[] = [];
  const pairs: TwoNodesT[] = [];
  const report: string[] = [`cpus=${os.cpus().length} node=${process.version} runtime=${runtimeS}s repeat=${repeat} (median)`];
  const json: Record<string, unknown> = {};
  try {
    // ------------------------------------------------------------ fio
    if (!flag('no-fio')) {
      const t = await TwoNodes.create({ prefix: 'repl-bench', sizeBytes });
      pairs.push(t);
      process.stderr.write(`initial sync of the fio volume (${sizeArg}) ...\n`);
      await t.initialSync('alpha', 600_000);
      const ours = t.status('alpha');
      const usable = ours.sizeKiB * 1024;
      const kitFile = path.join(dir, 'nbdkit.img');
      fs.closeSync(fs.openSync(kitFile, 'w'));
      fs.truncateSync(kitFile, sizeBytes);
      const kitSock = path.join(dir, 'nbdkit.sock');
      const kitUri = nbdkitFile(kitFile, kitSock, children);
      await waitForSocket(kitSock, 10_000);
      const servers = [
        { id: 'ours', label: 'safeside C, 2 nodes', uri: ours.nbdUri },
        { id: 'nbdkit', label: 'nbdkit file', uri: kitUri },
      ];
      const rows: { job: Job; results: Map<string, Result> }[] = [];
      for (const job of JOBS.filter((j) => wantJobs.includes(j.id))) {
        process.stderr.write(`running ${job.label} ...\n`);
        const runs = new Map<string, Result[]>(servers.map((s) => [s.id, []]));
        for (let i = 0; i < repeat; i++) for (const s of servers) runs.get(s.id)!.push(await fio(job, s.uri, usable, runtimeS));
        rows.push({ job, results: new Map([...runs].map(([k, v]) => [k, median(v)])) });
      }
      const peer = t.status('alpha').peer;
      if (peer['replication-state'] !== 'Established' || peer['peer-disk-state'] !== 'UpToDate') {
        throw new Error(`the peer fell out of sync during the fio runs: ${JSON.stringify(peer)}`);
      }
      const pad = (s: string, n: number): string => s.padStart(n);
      report.push(`fio on ${sizeArg}: IOPS, MiB/s, mean completion latency (us); ratio = safeside / nbdkit IOPS`);
      report.push('job'.padEnd(20) + servers.map((s) => pad(s.label, 28)).join('') + pad('ratio', 8));
      for (const r of rows) {
        const kit = r.results.get('nbdkit')!;
        const us = r.results.get('ours')!;
        report.push(
          r.job.label.padEnd(20) +
            servers.map((s) => r.results.get(s.id)!).map((x) => pad(`${x.iops.toFixed(0)} ${x.bwMiBs.toFixed(1)} ${x.latUsMean.toFixed(0)}`, 28)).join('') +
            pad((us.iops / kit.iops).toFixed(2), 8),
        );
      }
      json.fio = rows.map((r) => ({ job: r.job.id, ...Object.fromEntries(r.results), ratio: r.results.get('ours')!.iops / r.results.get('nbdkit')!.iops }));
      await t.cleanup();
      pairs.pop();
      for (const c of children.splice(0)) await stop(c);
    }

    // ------------------------------------------------------------ full sync vs nbdcopy
    if (!flag('no-sync')) {
      const runs: SyncRun[] = [];
      for (let i = 0; i < repeat; i++) {
        runs.push(await fullSyncRun(TwoNodes, pairs, children, dir, syncBytes));
        process.stderr.write(`  sync ${runs[i]!.syncS.toFixed(2)} s, nbdcopy --flush ${runs[i]!.copyFlushS.toFixed(2)} s, nbdcopy ${runs[i]!.copyS.toFixed(2)} s\n`);
      }
      const usableMiB = runs[0]!.usableBytes / 2 ** 20;
      const copiedMiB = syncBytes / 2 ** 20;
      const mid = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const syncS = mid(runs.map((r) => r.syncS));
      const transferS = mid(runs.map((r) => r.transferS));
      const copyFlushS = mid(runs.map((r) => r.copyFlushS));
      const copyS = mid(runs.map((r) => r.copyS));
      const syncMiBs = usableMiB / syncS;
      const copyFlushMiBs = copiedMiB / copyFlushS;
      const copyMiBs = copiedMiB / copyS;
      report.push(`sync targets: ${syncTargets}; median of ${repeat}`);
      report.push(
        `full sync ${usableMiB.toFixed(0)} MiB, primary --force until the peer is UpToDate (data flushed): ${syncS.toFixed(2)} s = ${syncMiBs.toFixed(1)} MiB/s` +
          ` (data transfer alone ${transferS.toFixed(2)} s = ${(usableMiB / transferS).toFixed(1)} MiB/s)`,
      );
      report.push(`nbdcopy --flush nbdkit file -> nbdkit file ${copiedMiB.toFixed(0)} MiB: ${copyFlushS.toFixed(2)} s = ${copyFlushMiBs.toFixed(1)} MiB/s`);
      report.push(`nbdcopy (no flush) ${copiedMiB.toFixed(0)} MiB: ${copyS.toFixed(2)} s = ${copyMiBs.toFixed(1)} MiB/s`);
      report.push(`resync / nbdcopy --flush throughput ratio: ${(syncMiBs / copyFlushMiBs).toFixed(2)} (against nbdcopy without flush: ${(syncMiBs / copyMiBs).toFixed(2)})`);
      json.sync = { syncTargets, syncS, transferS, syncMiBs, copyFlushS, copyFlushMiBs, copyS, copyMiBs, ratio: syncMiBs / copyFlushMiBs, ratioNoFlush: syncMiBs / copyMiBs, runs };
    }
    if (flag('json')) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    process.stdout.write(report.join('\n') + '\n');
  } finally {
    for (const c of children) await stop(c);
    for (const t of pairs) await t.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`replication-fio: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
