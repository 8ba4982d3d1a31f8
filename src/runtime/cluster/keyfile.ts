// The cluster key: random bytes every node and the arbiter share, written once by
// `safeside keygen` (like corosync-keygen) and read by the daemon at start. The whole
// file is the HMAC key; its first 16/24/32 bytes are the cipher key.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** corosync-keygen's range and default (`-s`). */
export const KEY_BYTES_MIN = 128;
export const KEY_BYTES_MAX = 4096;
export const KEY_BYTES_DEFAULT = 256;

export type KeyFileErrorCode =
  | 'ERR_KEY_SIZE'
  | 'ERR_KEY_EXISTS'
  | 'ERR_KEY_MISSING'
  | 'ERR_KEY_NOT_A_FILE'
  | 'ERR_KEY_ACCESS'
  | 'ERR_KEY_WRITE';

/** An operating error about the key file; the message names the file and what to do. */
export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  constructor(
    readonly code: KeyFileErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function checkSize(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < KEY_BYTES_MIN || bytes > KEY_BYTES_MAX) {
    throw new KeyFileError('ERR_KEY_SIZE', `key size ${bytes}: expected a whole number of bytes from ${KEY_BYTES_MIN} to ${KEY_BYTES_MAX}`);
  }
}

/**
 * Write `bytes` random bytes to `file` with mode 0400. Refuses to replace an existing
 * key unless `force`: a node with a new key can no longer talk to the others.
 * The key appears whole or not at all (written to a temporary file, fsynced, then
 * linked or renamed into place).
 */
export async function generateKey(file: string, bytes = KEY_BYTES_DEFAULT, force = false): Promise<void> {
  checkSize(bytes);
  const dir = path.dirname(path.resolve(file));
  const existing = statOrNull(file);
  if (existing && existing.isDirectory()) {
    throw new KeyFileError('ERR_KEY_NOT_A_FILE', `${file} is a directory; give the path of the key file to write`);
  }
  if (existing && !force) {
    throw new KeyFileError(
      'ERR_KEY_EXISTS',
      `${file} already exists; refusing to overwrite a cluster key (nodes with different keys cannot talk to each other). Use --force to replace it, then copy the new key to every node and the arbiter`,
    );
  }
  const dirStat = statOrNull(dir);
  if (!dirStat || !dirStat.isDirectory()) {
    throw new KeyFileError('ERR_KEY_WRITE', `cannot write ${file}: directory ${dir} does not exist`);
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const key = crypto.randomBytes(bytes);
  try {
    const fd = await fs.promises.open(tmp, 'wx', 0o400);
    try {
      // The umask can only take bits away from 0400, but be explicit as corosync-keygen is.
      await fd.chmod(0o400);
      await fd.writeFile(key);
      await fd.sync();
    } finally {
      await fd.close();
    }
    if (force) {
      await fs.promises.rename(tmp, file);
    } else {
      // link() fails if the name appeared meanwhile: never replace a key by accident.
      await fs.promises.link(tmp, file);
      await fs.promises.unlink(tmp);
    }
    await syncDir(dir);
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') {
      throw new KeyFileError('ERR_KEY_EXISTS', `${file} already exists; refusing to overwrite a cluster key. Use --force to replace it`);
    }
    throw new KeyFileError('ERR_KEY_WRITE', `cannot write ${file}: ${e.code ?? ''} ${e.message}`.trim());
  } finally {
    key.fill(0);
  }
}

export interface KeyFileRead {
  key: Buffer;
  /** Problems that do not stop the key from working (permissions). */
  warnings: string[];
}

/** Read and check a key file; throws KeyFileError with the file name and the fix. */
export function readKeyFile(file: string): KeyFileRead {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new KeyFileError('ERR_KEY_MISSING', `${file}: no such key file; create one with 'safeside keygen --key ${file}' and copy it to every node`);
    }
    if (e.code === 'EACCES' || e.code === 'EPERM') {
      throw new KeyFileError('ERR_KEY_ACCESS', `${file}: permission denied reading the cluster key (run the daemon as the key's owner, usually root)`);
    }
    throw new KeyFileError('ERR_KEY_ACCESS', `${file}: cannot open the cluster key: ${e.code ?? ''} ${e.message}`.trim());
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      throw new KeyFileError('ERR_KEY_NOT_A_FILE', `${file}: not a regular file; the cluster key must be a file written by 'safeside keygen' or corosync-keygen`);
    }
    if (st.size < KEY_BYTES_MIN || st.size > KEY_BYTES_MAX) {
      throw new KeyFileError(
        'ERR_KEY_SIZE',
        `${file}: key is ${st.size} bytes; expected ${KEY_BYTES_MIN} to ${KEY_BYTES_MAX} bytes (as written by 'safeside keygen' or corosync-keygen)`,
      );
    }
    const key = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, key, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== st.size) {
      throw new KeyFileError('ERR_KEY_SIZE', `${file}: key file shrank while being read (${got} of ${st.size} bytes)`);
    }
    const warnings: string[] = [];
    if ((st.mode & 0o077) !== 0) {
      warnings.push(
        `${file}: the cluster key is readable or writable by group or others (mode 0${(st.mode & 0o777).toString(8)}); anyone who reads it can join or forge cluster traffic. Run: chmod 0400 ${file}`,
      );
    }
    return { key, warnings };
  } finally {
    fs.closeSync(fd);
  }
}

/** Read a key file, passing permission warnings to `warn` (default: stderr). */
export function readKey(file: string, warn: (message: string) => void = (m) => void process.stderr.write(`warning: ${m}\n`)): Buffer {
  const { key, warnings } = readKeyFile(file);
  for (const w of warnings) warn(w);
  return key;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await fs.promises.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the key itself is already durable.
  }
}
