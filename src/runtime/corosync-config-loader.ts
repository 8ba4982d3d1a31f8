// The file-system side of the corosync.conf reader: read the bytes, decode them, and hand
// the text to the pure parser and validator.

import * as fs from 'node:fs';
import { CorosyncConfigError } from '../config/corosync/errors.js';
import { clusterConfigFrom, parseCorosyncConf } from '../config/corosync/index.js';
import type { ClusterConfig } from '../cluster/types.js';

export function loadClusterConfig(file: string): ClusterConfig {
  return clusterConfigFrom(parseCorosyncConf(readConfigText(file), file), file);
}

/**
 * UTF-8 when the bytes are valid UTF-8, else Latin-1 (one character per byte), so a
 * Latin-1 no-break space (0xA0) still reads as white space, as in corosync ≥ 3.1.8.
 */
export function readConfigText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'No such file or directory' : e.code === 'EACCES' ? 'Permission denied' : e.code === 'EISDIR' ? 'Is a directory' : e.message;
    throw new CorosyncConfigError('COROSYNC_CONF_READ', { file, line: 0 }, `can't read the file: ${reason}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
