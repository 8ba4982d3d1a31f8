// The node's state directory: control socket, NBD socket, pid lock, device records.

import fs from 'node:fs';
import path from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/safeside';

export function resolveStateDir(cliValue: string | undefined): string {
  return path.resolve(cliValue ?? process.env.SAFESIDE_STATE_DIR ?? DEFAULT_STATE_DIR);
}

export const controlSocketPath = (dir: string): string => path.join(dir, 'control.sock');
export const nbdSocketPath = (dir: string): string => path.join(dir, 'nbd.sock');
const lockPath = (dir: string): string => path.join(dir, 'daemon.pid');

export class StateDirError extends Error {
  constructor(
    readonly code: 'STATE_DIR_BUSY' | 'STATE_DIR_UNUSABLE',
    message: string,
  ) {
    super(message);
    this.name = 'StateDirError';
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take the state dir for this daemon. A pid file that names a live process means
 * another daemon owns it; a stale one (crash) is taken over along with stale sockets.
 */
export function lockStateDir(dir: string): () => void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  } catch (err) {
    throw new StateDirError('STATE_DIR_UNUSABLE', `cannot create state dir ${dir}: ${(err as Error).message}`);
  }
  const lock = lockPath(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 1) {
        throw new StateDirError('STATE_DIR_UNUSABLE', `cannot write ${lock}: ${(err as Error).message}`);
      }
      const pid = Number.parseInt(fs.readFileSync(lock, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new StateDirError(
          'STATE_DIR_BUSY',
          `another safeside daemon (pid ${pid}) already runs on state dir ${dir}; stop it first or use another --state-dir`,
        );
      }
      fs.rmSync(lock, { force: true });
    }
  }
  for (const sock of [controlSocketPath(dir), nbdSocketPath(dir)]) fs.rmSync(sock, { force: true });
  return () => {
    try {
      if (fs.readFileSync(lock, 'utf8').trim() === String(process.pid)) fs.rmSync(lock, { force: true });
    } catch {
      /* already gone */
    }
  };
}
