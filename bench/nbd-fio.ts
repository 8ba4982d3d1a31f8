// Side-by-side fio benchmark: safeside's NBD server vs `nbdkit file`, same jobs, same filesystem.
//
//   npm run bench:nbd -- [--size 1G] [--runtime 10] [--dir /var/tmp] [--jobs seqwrite,randwrite,...]
//                        [--repeat 3] [--threadpool N] [--inline-io BYTES] [--json]
//
// Each server gets its own sparse backing file of --size; our server runs in its own process
// (bench/nbd-serve.ts) so fio and the server do not share an event loop. For every job the two
// servers run back to back. Writes are buffered on both sides (no FUA, no flush), like for like.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, open as fsOpen } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Job {
  id: string;
  label: string;
  args: string[];
  dir: 'read' | 'write';
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const sizeArg = arg('size', '1G');
const runtimeS = Number(arg('runtime', '8'));
const baseDir = arg('dir', os.tmpdir());
const threadpool = arg('threadpool', '');
const repeat = Math.max(1, Number(arg('repeat', '3')));
const inlineIo = arg('inline-io', '0');
const wantJobs = arg('jobs', 'seqwrite,randwrite16,randread16,randwrite1').split(',');

const JOBS: Job[] = [
  { id: 'seqwrite', label: 'seq write 1M QD8', dir: 'write', args: ['--rw=write', '--bs=1M', '--iodepth=8', '--time_based'] },
  { id: 'randwrite16', label: 'rand write 4k QD16', dir: 'write', args: ['--rw=randwrite', '--bs=4k', '--iodepth=16', '--time_based'] },
  { id: 'randread16', label: 'rand read 4k QD16', dir: 'read', args: ['--rw=randread', '--bs=4k', '--iodepth=16', '--time_based'] },
  { id: 'randwrite1', label: 'rand write 4k QD1', dir: 'write', args: ['--rw=randwrite', '--bs=4k', '--iodepth=1', '--time_based'] },
];

function parseSize(s: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * mult;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function waitForSocket(p: string, timeoutMs: number): Promise<void> {
  // Existence only: a connect probe would make nbdkit log a reset connection.
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(p)) {
    if (Date.now() > deadline) throw new Error(`socket ${p} did not come up`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 100));
}

function stop(child: ChildProcess): Promise<void> {
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

interface Result {
  iops: number;
  bwMiBs: number;
  latUsMean: number;
}

async function fio(job: Job, uri: string, sizeBytes: number): Promise<Result> {
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

function median(rs: Result[]): Result {
  return [...rs].sort((a, b) => a.iops - b.iops)[Math.floor(rs.length / 2)]!;
}

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
        for (const s of servers) runs.get(s.id)!.push(await fio(job, s.uri, sizeBytes));
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
