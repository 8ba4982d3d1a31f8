// The local block device of a volume, like /dev/drbd0. This machine kind has no nbd
// kernel module, so the daemon's NBD export becomes a file through nbdfuse and that
// file a block device through a loop device (direct I/O, so no stale page cache sits
// between role changes). Records of what was set up are kept in the state dir so a
// daemon restarting after a crash can tear down what its predecessor left behind.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const readyTimeoutMs = 10_000;
const exitTimeoutMs = 5_000;
const pollIntervalMs = 50;

export interface LocalDevice {
  resource: string;
  volume: number;
  /** The block device path users mkfs and mount, e.g. /dev/loop3. */
  path: string;
  fuseDir: string;
  nbdfusePid: number;
}

export class LocalDeviceError extends Error {
  constructor(
    readonly code: 'DEVICE_SETUP' | 'DEVICE_TEARDOWN' | 'DEVICE_TOOL_MISSING',
    message: string,
  ) {
    super(message);
    this.name = 'LocalDeviceError';
  }
}

const recordsDir = (stateDir: string): string => path.join(stateDir, 'devices');
const recordPath = (stateDir: string, resource: string, volume: number): string =>
  path.join(recordsDir(stateDir), `${resource}.${volume}.json`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new LocalDeviceError('DEVICE_TOOL_MISSING', `${cmd} is not installed (needed for the local block device)`);
    }
    throw new LocalDeviceError('DEVICE_SETUP', `${cmd} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isOurNbdfuse(pid: number, fuseDir: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return path.basename(cmdline[0] ?? '') === 'nbdfuse' && cmdline.some((a) => a.startsWith(fuseDir));
  } catch {
    return false;
  }
}

export async function createLocalDevice(opts: {
  stateDir: string;
  resource: string;
  volume: number;
  nbdSocket: string;
  exportName: string;
  logFile: string;
}): Promise<LocalDevice> {
  const fuseDir = path.join(opts.stateDir, 'fuse', `${opts.resource}.${opts.volume}`);
  fs.mkdirSync(fuseDir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(opts.stateDir, 'fuse', `${opts.resource}.${opts.volume}.pid`);
  fs.rmSync(pidFile, { force: true });
  const uri = `nbd+unix:///${encodeURIComponent(opts.exportName)}?socket=${opts.nbdSocket}`;
  const log = fs.openSync(opts.logFile, 'a');
  const child = spawn('nbdfuse', ['-P', pidFile, path.join(fuseDir, 'disk'), uri], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  let spawnError: Error | null = null;
  child.on('error', (err) => (spawnError = err));
  child.unref();
  const deadline = Date.now() + readyTimeoutMs;
  while (!fs.existsSync(pidFile)) {
    if (spawnError) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      throw new LocalDeviceError(
        code === 'ENOENT' ? 'DEVICE_TOOL_MISSING' : 'DEVICE_SETUP',
        code === 'ENOENT' ? 'nbdfuse is not installed (Debian package nbdfuse)' : `nbdfuse: ${(spawnError as Error).message}`,
      );
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
      throw new LocalDeviceError('DEVICE_SETUP', `nbdfuse did not come up for ${uri} (see ${opts.logFile})`);
    }
    await sleep(pollIntervalMs);
  }
  const nbdfusePid = child.pid ?? Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10);
  let loop: string;
  try {
    loop = (await run('losetup', ['--direct-io=on', '-f', '--show', path.join(fuseDir, 'disk')])).trim();
  } catch (err) {
    await unmountFuse(fuseDir, nbdfusePid);
    throw err;
  }
  const dev: LocalDevice = { resource: opts.resource, volume: opts.volume, path: loop, fuseDir, nbdfusePid };
  fs.mkdirSync(recordsDir(opts.stateDir), { recursive: true, mode: 0o700 });
  fs.writeFileSync(recordPath(opts.stateDir, opts.resource, opts.volume), JSON.stringify(dev) + '\n', { mode: 0o600 });
  return dev;
}

async function unmountFuse(fuseDir: string, nbdfusePid: number): Promise<void> {
  try {
    await run('fusermount3', ['-u', fuseDir]);
  } catch {
    await run('fusermount3', ['-u', '-z', fuseDir]).catch(() => undefined);
  }
  const deadline = Date.now() + exitTimeoutMs;
  while (pidAlive(nbdfusePid) && isOurNbdfuse(nbdfusePid, fuseDir)) {
    if (Date.now() > deadline) {
      process.kill(nbdfusePid, 'SIGKILL');
      break;
    }
    await sleep(pollIntervalMs);
  }
}

export async function removeLocalDevice(stateDir: string, dev: LocalDevice): Promise<void> {
  await run('losetup', ['-d', dev.path]).catch((err: Error) => {
    // Already detached (e.g. by an operator) is fine; anything else is reported.
    if (!/No such device|not a block device|failed to use device/.test(err.message)) throw err;
  });
  await unmountFuse(dev.fuseDir, dev.nbdfusePid);
  fs.rmSync(recordPath(stateDir, dev.resource, dev.volume), { force: true });
}

/** Tear down devices a crashed predecessor left behind. Returns what was cleaned, for the log. */
export async function cleanupStaleDevices(stateDir: string): Promise<string[]> {
  const dir = recordsDir(stateDir);
  if (!fs.existsSync(dir)) return [];
  const cleaned: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    let dev: LocalDevice;
    try {
      dev = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as LocalDevice;
    } catch {
      fs.rmSync(path.join(dir, f), { force: true });
      continue;
    }
    const backing = loopBackingFile(dev.path);
    if (backing !== null && backing.startsWith(dev.fuseDir)) {
      await run('losetup', ['-d', dev.path]).catch(() => undefined);
    }
    if (isOurNbdfuse(dev.nbdfusePid, dev.fuseDir)) process.kill(dev.nbdfusePid, 'SIGTERM');
    await run('fusermount3', ['-u', '-z', dev.fuseDir]).catch(() => undefined);
    fs.rmSync(path.join(dir, f), { force: true });
    cleaned.push(`${dev.resource}/${dev.volume} (${dev.path})`);
  }
  return cleaned;
}

function loopBackingFile(loopPath: string): string | null {
  try {
    return fs.readFileSync(`/sys/block/${path.basename(loopPath)}/loop/backing_file`, 'utf8').trim();
  } catch {
    return null;
  }
}

export interface DeviceOpeners {
  mountPoints: string[];
  pids: number[];
  holders: string[];
}

export const openerCount = (o: DeviceOpeners): number => o.mountPoints.length + o.pids.length + o.holders.length;

/** Who holds the block device: mounts, processes with it open, stacked devices (dm, md). */
export function deviceOpeners(devPath: string): DeviceOpeners {
  const result: DeviceOpeners = { mountPoints: [], pids: [], holders: [] };
  let rdev: number;
  try {
    rdev = fs.statSync(devPath).rdev;
  } catch {
    return result;
  }
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  const majMin = `${major}:${minor}`;
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === majMin && f[4]) result.mountPoints.push(f[4]);
    }
  } catch {
    /* no procfs: nothing to report */
  }
  try {
    result.holders = fs.readdirSync(`/sys/block/${path.basename(devPath)}/holders`);
  } catch {
    /* not a whole disk */
  }
  for (const entry of safeReaddir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === devPath) {
          result.pids.push(pid);
          break;
        }
      } catch {
        /* the fd closed meanwhile */
      }
    }
  }
  return result;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Drop the kernel's buffered pages of the device, so a new Primary reads what is on disk. */
export async function flushDeviceBuffers(devPath: string): Promise<void> {
  await run('blockdev', ['--flushbufs', devPath]).catch(() => undefined);
}
