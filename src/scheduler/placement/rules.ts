// Evaluates location rules against a node's attributes.
import type { DateExpression, Expression, OtherExpression, Rule } from '../cib/model.js';
import { parseScore } from '../score.js';

function compare(a: string, b: string, type: string | undefined, op: string): number {
  let t = (type ?? '').toLowerCase();
  if (t === '') {
    // Without a type, ordering comparisons are numeric (integer unless a value has a dot).
    if (['lt', 'lte', 'gt', 'gte'].includes(op)) t = a.includes('.') || b.includes('.') ? 'number' : 'integer';
    else t = 'string';
  }
  if (t === 'integer') {
    const x = parseInt(a, 10), y = parseInt(b, 10);
    if (Number.isNaN(x) || Number.isNaN(y)) return a < b ? -1 : a > b ? 1 : 0;
    return x - y;
  }
  if (t === 'number') {
    const x = parseFloat(a), y = parseFloat(b);
    if (Number.isNaN(x) || Number.isNaN(y)) return a < b ? -1 : a > b ? 1 : 0;
    return x - y;
  }
  if (t === 'version') {
    const xa = a.split('.').map((p) => parseInt(p, 10) || 0), xb = b.split('.').map((p) => parseInt(p, 10) || 0);
    for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
      const d = (xa[i] ?? 0) - (xb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function evalExpression(e: Expression, attrs: ReadonlyMap<string, string>): boolean {
  const actual = attrs.get(e.attribute);
  const op = e.operation.toLowerCase();
  if (op === 'defined') return actual !== undefined;
  if (op === 'not_defined') return actual === undefined;
  if (actual === undefined || e.value === undefined) return op === 'ne' && actual === undefined ? true : false;
  const c = compare(actual, e.value, e.type, op);
  switch (op) {
    case 'eq': return c === 0;
    case 'ne': return c !== 0;
    case 'lt': return c < 0;
    case 'lte': return c <= 0;
    case 'gt': return c > 0;
    case 'gte': return c >= 0;
    default: return false;
  }
}

function evalDate(d: DateExpression, now: number): boolean {
  const t = (s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const ms = Date.parse(s.replace(' ', 'T'));
    return Number.isNaN(ms) ? undefined : ms / 1000;
  };
  const start = t(d.start), end = t(d.end);
  switch (d.operation) {
    case 'gt': return start !== undefined && now > start;
    case 'lt': return end !== undefined && now < end;
    case 'in_range': return (start === undefined || now >= start) && (end === undefined || now <= end);
    default: return false;
  }
}

export function evalRule(rule: Rule, attrs: ReadonlyMap<string, string>, now: number): boolean {
  if (rule.parts.length === 0) return true;
  const results = rule.parts.map((p: Expression | DateExpression | OtherExpression | Rule) => {
    switch (p.kind) {
      case 'expression': return evalExpression(p, attrs);
      case 'date': return evalDate(p, now);
      case 'rule': return evalRule(p, attrs, now);
      default: return false;
    }
  });
  return rule.booleanOp === 'or' ? results.some((x) => x) : results.every((x) => x);
}

/** The score a matching rule gives a node: its score, or the named attribute's value. */
export function ruleScore(rule: Rule, attrs: ReadonlyMap<string, string>): number | undefined {
  if (rule.scoreAttribute !== undefined) {
    return parseScore(attrs.get(rule.scoreAttribute));
  }
  return rule.score ?? 0;
}
