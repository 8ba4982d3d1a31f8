// Tokens of drbd.conf (after drbdadm_scanner.fl): '#' comments, { } ;,
// double-quoted strings with backslash escapes, and bare words. Words are
// kept wide (anything but blanks, { } ; " #) so addresses like
// `[fd00::1]:7789` and meta-disk `/dev/x[0]` stay one token; the parser
// gives them meaning.
import { DrbdConfigError } from './errors.js';

export type TokenKind = 'word' | 'string' | '{' | '}' | ';' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Word text, string contents with escapes resolved, or the punctuation itself. */
  text: string;
  line: number;
  column: number;
  /** Position just after the token, for "missing ';' here" errors. */
  endLine: number;
  endColumn: number;
}

/** DRBD limits a DQSTRING to 255 characters (drbdadm_scanner.fl). */
export const MAX_STRING_LENGTH = 255;

const WORD_STOP = new Set([' ', '\t', '\r', '\n', '\f', '\v', '{', '}', ';', '"', '#']);

export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let column = 1;
  const advance = (): string => {
    const ch = text[i++]!;
    if (ch === '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
    return ch;
  };
  const push = (kind: TokenKind, value: string, l: number, c: number): void => {
    tokens.push({ kind, text: value, line: l, column: c, endLine: line, endColumn: column });
  };

  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n' || ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      advance();
      continue;
    }
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') advance();
      continue;
    }
    const l = line;
    const c = column;
    if (ch === '{' || ch === '}' || ch === ';') {
      advance();
      push(ch, ch, l, c);
      continue;
    }
    if (ch === '"') {
      advance();
      let value = '';
      for (;;) {
        if (i >= text.length || text[i] === '\n') {
          throw new DrbdConfigError('DRBD_CONF_SYNTAX', { file, line: l, column: c },
            `unterminated string: the '"' opened here has no closing '"' before the end of the ${i >= text.length ? 'file' : 'line'}; expected '"'`);
        }
        const s = advance();
        if (s === '"') break;
        if (s === '\\' && i < text.length && text[i] !== '\n') {
          value += advance();
          continue;
        }
        value += s;
      }
      if (value.length > MAX_STRING_LENGTH) {
        throw new DrbdConfigError('DRBD_CONF_SYNTAX', { file, line: l, column: c },
          `string of ${value.length} characters is too long; expected at most ${MAX_STRING_LENGTH}`);
      }
      push('string', value, l, c);
      continue;
    }
    let word = '';
    while (i < text.length && !WORD_STOP.has(text[i]!)) word += advance();
    push('word', word, l, c);
  }
  tokens.push({ kind: 'eof', text: 'end of file', line, column, endLine: line, endColumn: column });
  return tokens;
}

/** How a token is named in messages. */
export function describe(tok: Token): string {
  switch (tok.kind) {
    case 'eof':
      return 'end of file';
    case 'string':
      return `"${tok.text}"`;
    default:
      return `'${tok.text}'`;
  }
}
