// The file-system side: read a config from disk, with a small glob for
// include patterns (Node 20 has no fs.glob). `*` and `?` do not match '/'
// or a leading '.', `[...]` is a character class (`[!...]` negated), as in glob(3).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDrbdConfig } from '../config/drbd/config.js';
import type { DrbdConfig } from '../config/drbd/model.js';

export function loadDrbdConfig(file: string): DrbdConfig {
  return parseDrbdConfig(fs.readFileSync(file, 'utf8'), file, {
    readFile: (p) => fs.readFileSync(p, 'utf8'),
    glob: globFiles,
  });
}

/** Regular expression for one path component of a glob pattern. */
export function globComponentRegExp(component: string): RegExp {
  let re = '';
  for (let i = 0; i < component.length; i++) {
    const ch = component[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const close = component.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = component.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Files matching `pattern` (relative to `baseDir` unless absolute), sorted; [] if none. */
export function globFiles(pattern: string, baseDir: string): string[] {
  const full = path.isAbsolute(pattern) ? pattern : path.join(baseDir, pattern);
  const parts = full.split('/');
  let current: string[] = [parts[0] === '' ? '/' : parts[0]!];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const dir of current) {
      if (!/[*?[]/.test(part)) {
        next.push(path.join(dir, part));
        continue;
      }
      const re = globComponentRegExp(part);
      let entries: string[];
      try {
        entries = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const e of entries.sort()) {
        if (e.startsWith('.') && !part.startsWith('.')) continue;
        if (re.test(e)) next.push(path.join(dir, e));
      }
    }
    current = next;
  }
  return current.filter((p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}
