// Pacemaker's saturating score arithmetic: +/-1000000 means INFINITY.
export const INFINITY = 1_000_000;

export function clampScore(n: number): number {
  if (n >= INFINITY) return INFINITY;
  if (n <= -INFINITY) return -INFINITY;
  return n;
}

/** Adds two scores; -INFINITY wins over +INFINITY. */
export function addScores(a: number, b: number): number {
  if (a <= -INFINITY || b <= -INFINITY) return -INFINITY;
  if (a >= INFINITY || b >= INFINITY) return INFINITY;
  return clampScore(a + b);
}

/** Parses "INFINITY", "+INFINITY", "-INFINITY", or an integer; anything else is undefined. */
export function parseScore(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (/^\+?INFINITY$/i.test(t)) return INFINITY;
  if (/^-INFINITY$/i.test(t)) return -INFINITY;
  if (t === 'red') return -INFINITY;
  if (t === 'yellow' || t === 'green') return 0;
  const m = /^([+-]?\d+)/.exec(t);
  if (!m) return undefined;
  return clampScore(parseInt(m[1]!, 10));
}

export function formatScore(n: number): string {
  if (n >= INFINITY) return 'INFINITY';
  if (n <= -INFINITY) return '-INFINITY';
  return String(n);
}

/** Pacemaker's interval/duration parser: plain numbers are seconds unless the unit says otherwise. */
export function parseDurationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '') return undefined;
  const iso = /^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$/i.exec(t);
  if (iso && t.length > 1) {
    return ((+(iso[1] ?? 0)) * 86400 + (+(iso[2] ?? 0)) * 3600 + (+(iso[3] ?? 0)) * 60 + (+(iso[4] ?? 0))) * 1000;
  }
  const m = /^(\d+)\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?$/i.exec(t);
  if (!m) return undefined;
  const n = parseInt(m[1]!, 10);
  switch ((m[2] ?? 's').toLowerCase()) {
    case 'ms': case 'msec': return n;
    case 'us': case 'usec': return Math.floor(n / 1000);
    case 'm': case 'min': return n * 60_000;
    case 'h': case 'hr': return n * 3_600_000;
    default: return n * 1000;
  }
}

export function isTrue(v: string | undefined): boolean {
  if (v === undefined) return false;
  return /^(true|on|yes|y|1)$/i.test(v.trim());
}
