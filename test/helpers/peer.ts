// Shared by the peer link tests: a logger that keeps what it was told.

import type { PeerLogger } from '../../src/runtime/peer/link.js';

export interface LogLine {
  level: string;
  msg: string;
}

export function memLogger(): PeerLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (_obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
