// Side-by-side fio benchmark: safeside's NBD server vs `nbdkit file`, same jobs, same filesystem.
//
//   npm run bench:nbd -- [--size 1G] [--runtime 10] [--dir /var/tmp] [--jobs seqwrite,randwrite,...]
//                        [--repeat 3] [--threadpool N] [--inline-io BYTES] [--json]
//
// Each server gets its own sparse backing file of --size; our server runs in its own process
// (bench/nbd-serve.ts) so fio and the server do not share an event loop. For every job the two
// servers run back to back. Writes are buffered on both sides (no FUA, no flush), like for like.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, open as fsOpen } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOBS, arg, fio, median, parseSize, stop, waitForSocket, type Job, type Result } from './fio-common.js';

const sizeArg = arg('size', '1G');
const runtimeS = Number(arg('runtime', '8'));
const baseDir = arg('dir', os.tmpdir());
const threadpool = arg('threadpool', '');
const repeat = Math.max(1, Number(arg('repeat', '3')));
const inlineIo = arg('inline-io', '0');
const wantJobs = arg('jobs', 'seqwrite,randwrite16,randread16,randwrite1').split(',');

async function main(): Promise<void> {
  const sizeBytes = parseSize(sizeArg);
  const dir = await mkdtemp(path.join(baseDir, 'safeside-nbd-bench-'));
  const children: ChildProcess[] = [];
  try {
    // Servers under test: ours with libuv's thread pool (the default), ours with inline I/O
    // for small requests (FileBlockExport inlineIoBytesMax), and nbdkit's file plugin.
    const here = path.dirname(fileURLToPath(import.meta.url));
    const env = { ...process.env };
    if (threadpool !== '') env.UV_THREADPOOL_SIZE = threadpool;
    const servers: { id: string; label: string; uri: string; sock: string }[] = [];
    const modes = inlineIo === '0' ? ['pool', 'inline'] : ['inline'];
    for (const id of [...modes.map((m) => `ours-${m}`), 'nbdkit']) {
      const file = path.join(dir, `${id}.img`);
      const h = await fsOpen(file, 'w');
      await h.truncate(sizeBytes);
      await h.close();
      const sock = path.join(dir, `${id}.sock`);
      let child: ChildProcess;
      if (id === 'nbdkit') {
        child = spawn('nbdkit', ['--foreground', '--exit-with-parent', '--unix', sock, 'file', file], { stdio: ['ignore', 'ignore', 'inherit'] });
        servers.push({ id, label: 'nbdkit', uri: `nbd+unix:///?socket=${sock}`, sock });
      } else {
        const inline = id === 'ours-inline' ? (inlineIo === '0' ? '65536' : inlineIo) : '0';
        child = spawn(process.execPath, [path.join(here, 'nbd-serve.js'), '--file', file, '--socket', sock, '--name', 'bench', '--inline-io', inline], {
          stdio: ['ignore', 'ignore', 'inherit'],
          env,
        });
        servers.push({ id, label: id === 'ours-inline' ? `ours inline<=${inline}` : 'ours pool', uri: `nbd+unix:///bench?socket=${sock}`, sock });
      }
      children.push(child);
    }
    await Promise.all(servers.map((s) => waitForSocket(s.sock, 10_000)));

    const rows: { job: Job; results: Map<string, Result> }[] = [];
    for (const job of JOBS.filter((j) => wantJobs.includes(j.id))) {
      process.stderr.write(`running ${job.label} ...\n`);
      // Alternate the servers and keep the median run of each (the machine may be noisy).
      const runs = new Map<string, Result[]>(servers.map((s) => [s.id, []]));
      for (let i = 0; i < repeat; i++) {
        for (const s of servers) runs.get(s.id)!.push(await fio(job, s.uri, sizeBytes, runtimeS));
      }
      rows.push({ job, results: new Map([...runs].map(([k, v]) => [k, median(v)])) });
    }

    if (process.argv.includes('--json')) {
      process.stdout.write(JSON.stringify(rows.map((r) => ({ job: r.job.id, ...Object.fromEntries(r.results) })), null, 2) + '\n');
    }
    const pad = (s: string, n: number): string => s.padStart(n);
    const lines = [
      `size=${sizeArg} runtime=${runtimeS}s repeat=${repeat} (median) cpus=${os.cpus().length} node=${process.version}`,
      `IOPS, MiB/s and mean completion latency (us); ratio = ours / nbdkit IOPS`,
      `${'job'.padEnd(20)}` + servers.map((s) => pad(s.label, 28)).join('') + modes.map((m) => pad(`ratio ${m}`, 14)).join(''),
    ];
    for (const r of rows) {
      const kit = r.results.get('nbdkit')!;
      lines.push(
        r.job.label.padEnd(20) +
          servers
            .map((s) => {
              const x = r.results.get(s.id)!;
              return pad(`${x.iops.toFixed(0)} ${x.bwMiBs.toFixed(1)} ${x.latUsMean.toFixed(0)}`, 28);
            })
            .join('') +
          modes.map((m) => pad((r.results.get(`ours-${m}`)!.iops / kit.iops).toFixed(2), 14)).join(''),
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const c of children) await stop(c);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`nbd-fio: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
