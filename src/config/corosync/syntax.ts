// Character-level rules of corosync's line reader (exec/coroparse.c parse_section):
// what counts as white space, how keys, values and section names are trimmed, and the
// fgets buffer that limits a line.

/** fgets(line, 512): a line of this many bytes or more (newline not counted) is "Line too long". */
export const LINE_BYTES_MAX = 511;
/** ICMAP_KEYNAME_MAXLEN: a section or key whose full dotted path would reach this is refused. */
export const CMAP_PATH_BYTES_MAX = 255;

/**
 * Space, tab and the no-break space. Corosync treats byte 0xA0 as white space since 3.1.8
 * (PR #724); we match that for U+00A0, which is what a UTF-8 NBSP (or a Latin-1 0xA0) decodes to.
 */
export const isBlank = (ch: string | undefined): boolean => ch === ' ' || ch === '\t' || ch === '\u00a0';

/** remove_whitespace(): trim blanks at both ends; with `colonAndBrace`, also trailing ':' and '{' (never the first character). */
export function trimLikeCorosync(s: string, colonAndBrace: boolean): string {
  let start = 0;
  while (start < s.length && isBlank(s[start])) start++;
  if (start === s.length) return '';
  let end = s.length - 1;
  while (end > start && (isBlank(s[end]) || (colonAndBrace && (s[end] === ':' || s[end] === '{')))) end--;
  return s.slice(start, end + 1);
}

/**
 * strchr_rs(): position just past the first `ch` and any blanks after it, or -1.
 * The parser cuts the line at (that position - 1), which is how `a { x` keeps its `{`.
 */
export function afterFirst(line: string, ch: string): number {
  const at = line.indexOf(ch);
  if (at < 0) return -1;
  let p = at + 1;
  while (p < line.length && isBlank(line[p])) p++;
  return p;
}

/** UTF-8 length of a string, for corosync's byte limits. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The file split as fgets sees it: a final line without '\n' still counts, an empty tail does not. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
