// Recursive-descent parser for one drbd.conf / *.res file (grammar after
// drbd-utils user/v9/drbdadm_parser.c). It only reads tokens: includes are
// returned as items for includes.ts to follow, and `common` inheritance is
// applied later by assemble.ts.
import { DrbdConfigError, type DrbdConfigErrorCode } from './errors.js';
import { describe, type Token, tokenize } from './lexer.js';
import type { MetaDisk, NetworkAddress, OptionSection, SourceLocation } from './model.js';
import { OPTION_TABLE, RENAMED, type SectionName, SYNCER_MOVES } from './options-table.js';
import { didYouMean } from './suggest.js';
import {
  type ConnectionSyntax,
  emptySectionSet,
  type HostSyntax,
  type OptionSectionName,
  type ResourceSyntax,
  type SectionSet,
  type TopItem,
  type VolumeSyntax,
} from './syntax.js';
import { expectedForm, valueProblem } from './values.js';

/** Every keyword that opens a `{ }` block somewhere; seeing one where it does not belong means a '}' is missing. */
const SECTION_WORDS = new Set([
  'global', 'common', 'resource', 'on', 'floating', 'stacked-on-top-of', 'volume', 'net', 'disk', 'syncer',
  'startup', 'handlers', 'options', 'connection', 'connection-mesh', 'path', 'proxy', 'skip',
]);
const TOP_LEVEL_WORDS = ['global', 'common', 'resource', 'skip', 'include'];
const COMMON_WORDS = ['protocol', 'net', 'disk', 'syncer', 'startup', 'handlers', 'options'];
const RESOURCE_WORDS = [...COMMON_WORDS, 'device', 'meta-disk', 'flexible-meta-disk', 'volume', 'on', 'floating',
  'stacked-on-top-of', 'connection', 'connection-mesh', 'ignore-on', 'template-file'];
const HOST_WORDS = ['node-id', 'address', 'device', 'disk', 'meta-disk', 'flexible-meta-disk', 'volume', 'proxy'];
const VOLUME_WORDS = ['device', 'disk', 'meta-disk', 'flexible-meta-disk'];
const ADDRESS_FAMILIES = new Set(['ipv4', 'ipv6', 'ssocks', 'sdp', 'sci']);
/** MINORMASK in the kernel: minors are 20 bits. */
const MAX_MINOR = (1 << 20) - 1;
/** DRBD 9 supports node ids 0..31 (DRBD_NODE_ID_MAX). */
const MAX_NODE_ID = 31;

interface OpenSection {
  label: string;
  at: SourceLocation;
}

export function parseFile(text: string, file: string): TopItem[] {
  return new Parser(tokenize(text, file), file).parseTopLevel();
}

class Parser {
  private pos = 0;
  private readonly open: OpenSection[] = [];

  constructor(private readonly tokens: Token[], private readonly file: string) {}

  // ---- token helpers ------------------------------------------------------

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private loc(t: Token): SourceLocation {
    return { file: this.file, line: t.line, column: t.column };
  }

  private fail(code: DrbdConfigErrorCode, t: Token, message: string): never {
    throw new DrbdConfigError(code, this.loc(t), message);
  }

  private prev(): Token {
    return this.tokens[Math.max(0, this.pos - 1)]!;
  }

  /** A ';' must end the statement; if not, point just after its last token, where the ';' belongs. */
  private expectSemicolon(statement: string): void {
    const t = this.peek();
    if (t.kind === ';') {
      this.next();
      return;
    }
    if (t.kind === 'eof' || t.kind === '}' || t.kind === '{' || t.line !== this.prev().endLine) {
      const p = this.prev();
      throw new DrbdConfigError('DRBD_CONF_SYNTAX', { file: this.file, line: p.endLine, column: p.endColumn },
        `missing ';' after '${statement}'; found ${describe(t)} at line ${t.line}, column ${t.column}; expected ';'`);
    }
    this.fail('DRBD_CONF_SYNTAX', t, `unexpected ${describe(t)} after '${statement}'; expected ';'`);
  }

  /** One word or quoted string, e.g. a path or name. */
  private value(what: string, after: string): Token {
    const t = this.peek();
    if (t.kind === 'word' || t.kind === 'string') return this.next();
    if (t.kind === '{' || t.kind === 'eof' || t.kind === '}') this.unclosedIfBlock(t);
    return this.fail('DRBD_CONF_SYNTAX', t, `'${after}' needs ${what}; got ${describe(t)}`);
  }

  /** True if the tokens from `pos` are words followed by '{' (a block opener). */
  private opensBlockAt(pos: number): boolean {
    for (let i = pos; i < this.tokens.length; i++) {
      const k = this.tokens[i]!.kind;
      if (k === '{') return true;
      if (k !== 'word' && k !== 'string') return false;
    }
    return false;
  }

  private unclosedMessage(t: Token): string {
    const inner = this.open[this.open.length - 1]!;
    const before = t.kind === 'eof' ? 'the end of the file' : describe(t);
    return `'${inner.label}' section opened at line ${inner.at.line}, column ${inner.at.column}` +
      (inner.at.file === this.file ? '' : ` of ${inner.at.file}`) +
      ` is not closed before ${before}; expected '}' to close '${inner.label}'`;
  }

  /** Called when a block keyword or the end of file shows up inside a section that is still open. */
  private unclosedIfBlock(t: Token): void {
    if (this.open.length === 0) return;
    if (t.kind === 'eof' || (t.kind === 'word' && SECTION_WORDS.has(t.text) && this.opensBlockAt(this.pos + 1))) {
      this.fail('DRBD_CONF_UNCLOSED_SECTION', t, this.unclosedMessage(t));
    }
  }

  /** Expects '{' after a section keyword and records the section as open. */
  private openSection(label: string, keyword: Token): void {
    const t = this.peek();
    if (t.kind !== '{') {
      this.fail('DRBD_CONF_SYNTAX', t, `expected '{' to open the '${label}' section; got ${describe(t)}`);
    }
    this.next();
    this.open.push({ label, at: this.loc(keyword) });
  }

  /**
   * Runs `statement` for each word inside the current section until its '}'.
   * Stray punctuation and the end of file are reported here.
   */
  private sectionBody(statement: (word: Token) => void): void {
    for (;;) {
      const t = this.peek();
      if (t.kind === '}') {
        this.next();
        this.open.pop();
        return;
      }
      if (t.kind === 'eof') this.fail('DRBD_CONF_UNCLOSED_SECTION', t, this.unclosedMessage(t));
      if (t.kind === ';') this.fail('DRBD_CONF_SYNTAX', t, `unexpected ';' in '${this.open.at(-1)!.label}' section; expected a keyword or '}'`);
      if (t.kind === '{') this.fail('DRBD_CONF_SYNTAX', t, `unexpected '{' in '${this.open.at(-1)!.label}' section; expected a keyword before it`);
      if (t.kind === 'string') this.fail('DRBD_CONF_SYNTAX', t, `unexpected string ${describe(t)} in '${this.open.at(-1)!.label}' section; expected a keyword or '}'`);
      const before = this.pos;
      statement(t);
      if (this.pos === before) throw new Error('drbd parser made no progress'); // guards against hangs
    }
  }

  /** Unknown word in a structural section: a missing '}' if it opens a block, else a misspelling. */
  private unknownKeyword(t: Token, where: string, known: readonly string[]): never {
    this.unclosedIfBlock(t);
    return this.fail('DRBD_CONF_UNKNOWN_KEYWORD', t,
      `unknown keyword ${describe(t)} in ${where}; expected one of ${known.join(', ')} or '}'${didYouMean(t.text, known)}`);
  }

  // ---- top level ----------------------------------------------------------

  parseTopLevel(): TopItem[] {
    const items: TopItem[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') return items;
      if (t.kind !== 'word') {
        this.fail('DRBD_CONF_SYNTAX', t, `unexpected ${describe(t)} at top level` +
          (t.kind === '}' ? ' (no section is open)' : '') + `; expected one of ${TOP_LEVEL_WORDS.join(', ')}`);
      }
      this.next();
      switch (t.text) {
        case 'global':
          items.push({ kind: 'global', options: this.optionSection('global', 'global', t), at: this.loc(t) });
          break;
        case 'common': {
          const set = emptySectionSet();
          this.openSection('common', t);
          this.sectionBody((w) => this.sectionSetStatement(w, set, 'the common section', COMMON_WORDS));
          items.push({ kind: 'common', at: this.loc(t), ...set });
          break;
        }
        case 'resource':
          items.push({ kind: 'resource', resource: this.resource(t), at: this.loc(t) });
          break;
        case 'skip':
          this.skipBlock(t);
          break;
        case 'include': {
          const pattern = this.value('a file name or glob pattern', 'include');
          this.expectSemicolon(`include ${describe(pattern)}`);
          items.push({ kind: 'include', pattern: pattern.text, at: this.loc(pattern) });
          break;
        }
        default:
          if (t.text.startsWith('require-drbd-module-version-')) {
            // Guards on the kernel module version: nothing to check in userspace.
            this.value('a version', t.text);
            this.expectSemicolon(t.text);
            break;
          }
          this.pos--;
          this.fail('DRBD_CONF_UNKNOWN_KEYWORD', t, `unknown top-level keyword ${describe(t)}; ` +
            `expected one of ${TOP_LEVEL_WORDS.join(', ')}${didYouMean(t.text, TOP_LEVEL_WORDS)}`);
      }
    }
  }

  /** `skip [words] { anything balanced }` comments out a block. */
  private skipBlock(keyword: Token): void {
    while (this.peek().kind === 'word' || this.peek().kind === 'string') this.next();
    this.openSection('skip', keyword);
    let depth = 1;
    while (depth > 0) {
      const t = this.next();
      if (t.kind === 'eof') this.fail('DRBD_CONF_UNCLOSED_SECTION', t, this.unclosedMessage(t));
      if (t.kind === '{') depth++;
      if (t.kind === '}') depth--;
    }
    this.open.pop();
  }

  // ---- option sections ----------------------------------------------------

  /** `NAME { key [value]; ... }` for net/disk/startup/handlers/options/global. */
  private optionSection(name: SectionName, label: string, keyword: Token, into: OptionSection = new Map()): OptionSection {
    this.openSection(label, keyword);
    this.sectionBody((t) => {
      const known = OPTION_TABLE[name];
      const renamed = RENAMED[name]?.get(t.text);
      const key = renamed?.key ?? t.text;
      if (!known.has(key)) this.unknownOption(t, label, [...known.keys(), ...(RENAMED[name]?.keys() ?? [])]);
      const v = this.option(t, name, key);
      into.set(key, renamed !== undefined && renamed.words.length > 0 ? { ...v, words: renamed.words } : v);
    });
    return into;
  }

  /** 8.3 `syncer { }`: each key is moved to the section it belongs to since 8.4. */
  private syncerSection(keyword: Token, set: SectionSet): void {
    this.openSection('syncer', keyword);
    this.sectionBody((t) => {
      const move = SYNCER_MOVES.get(t.text);
      if (move === undefined) this.unknownOption(t, 'syncer', [...SYNCER_MOVES.keys()]);
      set.sections[move.section].set(move.key, this.option(t, move.section, move.key));
    });
  }

  private unknownOption(t: Token, label: string, known: string[]): never {
    this.unclosedIfBlock(t);
    return this.fail('DRBD_CONF_UNKNOWN_OPTION', t,
      `unknown option ${describe(t)} in '${label}' section; expected a ${label} option or '}'${didYouMean(t.text, known)}`);
  }

  /** `key [value];` with the value checked against the option table. */
  private option(keyTok: Token, section: SectionName, key = keyTok.text): { words: string[]; at: SourceLocation; valueAt?: SourceLocation } {
    this.next();
    const spec = OPTION_TABLE[section].get(key) ?? { kind: 'string' as const };
    let valueTok: Token | null = null;
    const t = this.peek();
    if (spec.kind === 'bool') {
      // A flag may stand alone (`always-asbp;`) or take yes/no.
      if ((t.kind === 'word' || t.kind === 'string') && this.peek(1).kind === ';') valueTok = this.next();
    } else if (t.kind === 'word' || t.kind === 'string') {
      valueTok = this.next();
    } else {
      if (t.kind !== ';') this.unclosedIfBlock(t);
      this.fail('DRBD_CONF_BAD_VALUE', t, `'${keyTok.text}' needs a value; got ${describe(t)}; expected ${expectedForm(spec)}`);
    }
    this.expectSemicolon(valueTok === null ? keyTok.text : `${keyTok.text} ${describe(valueTok).replace(/^'|'$/g, '')}`);
    const value = valueTok?.text;
    const problem = valueProblem(spec, value);
    if (problem !== null) {
      this.fail('DRBD_CONF_BAD_VALUE', valueTok ?? keyTok,
        `bad value ${valueTok === null ? '(none)' : describe(valueTok)} for '${keyTok.text}': it ${problem}; expected ${expectedForm(spec)}`);
    }
    const words = value === undefined ? [] : [spec.kind === 'protocol' ? value.toUpperCase() : value];
    return valueTok === null ? { words, at: this.loc(keyTok) } : { words, at: this.loc(keyTok), valueAt: this.loc(valueTok) };
  }

  /** Statements shared by `common` and `resource`: protocol shorthand and the option sections. Returns false if not one of them. */
  private sectionSetStatement(t: Token, set: SectionSet, where: string, known: readonly string[], extra?: (t: Token) => boolean): void {
    const isBlock = this.peek(1).kind === '{';
    switch (t.text) {
      case 'protocol': {
        // 8.4 shorthand for net { protocol X; }
        set.sections.net.set('protocol', this.option(t, 'net'));
        return;
      }
      case 'net':
      case 'startup':
      case 'handlers':
      case 'options':
      case 'disk':
        if (t.text !== 'disk' || isBlock) {
          this.next();
          const name = t.text as OptionSectionName;
          const first = set.openedAt.get(name);
          if (first !== undefined) {
            this.fail('DRBD_CONF_DUPLICATE', t, `second '${name}' section in ${where}; the first is at line ${first.line}, column ${first.column}` +
              (first.file === this.file ? '' : ` of ${first.file}`) + `; expected one '${name}' section per level`);
          }
          set.openedAt.set(name, this.loc(t));
          this.optionSection(name, name, t, set.sections[name]);
          return;
        }
        break;
      case 'syncer':
        this.next();
        this.syncerSection(t, set);
        return;
    }
    if (extra?.(t)) return;
    this.unknownKeyword(t, where, known);
  }

  // ---- resources ----------------------------------------------------------

  private resource(keyword: Token): ResourceSyntax {
    const nameTok = this.peek();
    if (nameTok.kind !== 'word') {
      this.fail('DRBD_CONF_SYNTAX', nameTok, `missing resource name after 'resource'; got ${describe(nameTok)}; expected a name such as r0`);
    }
    this.next();
    const res: ResourceSyntax = {
      name: nameTok.text,
      ...emptySectionSet(),
      volumes: new Map(),
      hosts: [],
      connectionMesh: null,
      connections: [],
      at: this.loc(keyword),
    };
    this.openSection(`resource ${res.name}`, keyword);
    const where = `resource ${res.name}`;
    this.sectionBody((t) =>
      this.sectionSetStatement(t, res, where, RESOURCE_WORDS, (w) => this.resourceStatement(w, res, where)));
    return res;
  }

  private resourceStatement(t: Token, res: ResourceSyntax, where: string): boolean {
    if (this.volumeField(t, res.volumes, where)) return true;
    switch (t.text) {
      case 'volume':
        this.volume(res.volumes, where);
        return true;
      case 'on':
        this.next();
        res.hosts.push(this.host(t, this.hostNames(t), where));
        return true;
      case 'floating': {
        this.next();
        const address = this.address(t);
        const h = this.hostBody(t, `floating ${address.host}:${address.port}`, where);
        res.hosts.push({ ...h, address, floating: true });
        return true;
      }
      case 'stacked-on-top-of': {
        this.next();
        const lower = this.value('the name of the lower resource', 'stacked-on-top-of');
        res.hosts.push({ ...this.hostBody(t, `stacked-on-top-of ${lower.text}`, where), stackedOn: lower.text });
        return true;
      }
      case 'connection-mesh':
        this.next();
        res.connectionMesh = this.connectionMesh(t);
        return true;
      case 'connection':
        this.next();
        res.connections.push(this.connection(t));
        return true;
      case 'ignore-on':
      case 'template-file':
        // Accepted for compatibility; they do not change what the resource means here.
        this.next();
        this.value('a name', t.text);
        this.expectSemicolon(t.text);
        return true;
    }
    return false;
  }

  private hostNames(keyword: Token): string[] {
    const names: string[] = [];
    while (this.peek().kind === 'word') names.push(this.next().text);
    if (names.length === 0) {
      this.fail('DRBD_CONF_SYNTAX', this.peek(), `missing host name after 'on'; got ${describe(this.peek())}; expected 'on HOSTNAME {'`);
    }
    void keyword;
    return names;
  }

  private host(keyword: Token, names: string[], where: string): HostSyntax {
    return this.hostBody(keyword, `on ${names.join(' ')}`, where, names);
  }

  /** Body of `on`, `floating` and `stacked-on-top-of`. */
  private hostBody(keyword: Token, label: string, where: string, names: string[] = []): HostSyntax {
    const h: HostSyntax = {
      names, nodeId: null, address: null, volumes: new Map(), floating: false, stackedOn: null, at: this.loc(keyword),
    };
    this.openSection(label, keyword);
    const inner = `${where}, ${label}`;
    this.sectionBody((t) => {
      if (this.volumeField(t, h.volumes, inner)) return;
      switch (t.text) {
        case 'volume':
          this.volume(h.volumes, inner);
          return;
        case 'node-id': {
          this.next();
          const v = this.value('a number', 'node-id');
          this.expectSemicolon(`node-id ${v.text}`);
          if (!/^\d+$/.test(v.text) || Number(v.text) > MAX_NODE_ID) {
            this.fail('DRBD_CONF_BAD_VALUE', v, `bad node-id ${describe(v)}; expected a number 0..${MAX_NODE_ID}`);
          }
          h.nodeId = Number(v.text);
          return;
        }
        case 'address':
          this.next();
          h.address = this.address(t);
          this.expectSemicolon('address');
          return;
        case 'proxy':
          if (this.peek(1).kind === '{') {
            // DRBD Proxy settings: accepted, not used.
            this.next();
            this.skipBlock(t);
            return;
          }
      }
      this.unknownKeyword(t, inner, HOST_WORDS);
    });
    return h;
  }

  /** `[af] ADDR:PORT` — IPv4 `10.0.0.1:7789`, IPv6 `[fd00::1]:7789` (optionally `%scope`). */
  private address(keyword: Token): NetworkAddress {
    let family: NetworkAddress['family'] | null = null;
    let t = this.value('an address such as 10.0.0.1:7789', keyword.text);
    if (ADDRESS_FAMILIES.has(t.text)) {
      family = t.text as NetworkAddress['family'];
      t = this.value('ADDR:PORT after the address family', t.text);
    }
    const expected = "expected ADDR:PORT such as 10.0.0.1:7789 or ipv6 [fd00::1]:7789";
    const m = /^(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([^:\s[\]]+)):(\d+)$/.exec(t.text);
    if (m === null) this.fail('DRBD_CONF_BAD_VALUE', t, `bad address ${describe(t)}; ${expected}`);
    const host = (m[1] ?? m[2])!;
    const port = Number(m[3]);
    if (port < 1 || port > 65535) this.fail('DRBD_CONF_BAD_VALUE', t, `bad port ${port} in ${describe(t)}; expected a port in 1..65535`);
    if (m[1] !== undefined) {
      if (family !== null && family !== 'ipv6' && family !== 'sdp' && family !== 'ssocks') {
        this.fail('DRBD_CONF_BAD_VALUE', t, `address ${describe(t)} is IPv6 but the family is '${family}'; expected 'ipv6'`);
      }
      family ??= 'ipv6';
    } else {
      const octets = host.split('.');
      if (octets.length !== 4 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) {
        this.fail('DRBD_CONF_BAD_VALUE', t, `bad IPv4 address '${host}' in ${describe(t)}; ${expected}`);
      }
      if (family === 'ipv6') this.fail('DRBD_CONF_BAD_VALUE', t, `address ${describe(t)} is IPv4 but the family is 'ipv6'; expected [IPV6]:PORT`);
      family ??= 'ipv4';
    }
    return { family, host, port };
  }

  private volumeNumber(): number {
    const t = this.value('a volume number', 'volume');
    if (!/^\d+$/.test(t.text) || Number(t.text) > 65535) {
      this.fail('DRBD_CONF_BAD_VALUE', t, `bad volume number ${describe(t)}; expected a number 0..65535`);
    }
    return Number(t.text);
  }

  private volume(into: Map<number, VolumeSyntax>, where: string): void {
    const keyword = this.next();
    const n = this.volumeNumber();
    const existing = into.get(n);
    if (existing !== undefined) {
      this.fail('DRBD_CONF_DUPLICATE', keyword, `volume ${n} is defined twice in ${where}; the first ` +
        `${existing.implicit ? '(device/disk/meta-disk outside any volume block, which mean volume 0)' : 'volume block'} is at line ${existing.at.line}; expected each volume once`);
    }
    const vol: VolumeSyntax = { number: n, implicit: false, at: this.loc(keyword) };
    into.set(n, vol);
    const inner = `${where}, volume ${n}`;
    this.openSection(`volume ${n}`, keyword);
    this.sectionBody((t) => {
      if (t.text === 'disk' && this.peek(1).kind === '{') {
        this.next();
        vol.diskOptions = this.optionSection('disk', 'disk', t, vol.diskOptions ?? new Map());
        return;
      }
      if (!this.volumeField(t, into, inner, vol)) this.unknownKeyword(t, inner, VOLUME_WORDS);
    });
  }

  /**
   * device / disk / meta-disk, written in a volume block or directly in a
   * resource or `on` section (then they describe volume 0).
   */
  private volumeField(t: Token, volumes: Map<number, VolumeSyntax>, where: string, explicit?: VolumeSyntax): boolean {
    const field = t.text;
    if (field !== 'device' && field !== 'disk' && field !== 'meta-disk' && field !== 'flexible-meta-disk') return false;
    if (field === 'disk' && this.peek(1).kind === '{') return false;
    let vol = explicit;
    if (vol === undefined) {
      vol = volumes.get(0);
      if (vol !== undefined && !vol.implicit) {
        this.fail('DRBD_CONF_DUPLICATE', t, `'${field}' outside a volume block means volume 0, but ${where} already has a 'volume 0' block at line ${vol.at.line}; expected it inside that block`);
      }
      if (vol === undefined) {
        vol = { number: 0, implicit: true, at: this.loc(t) };
        volumes.set(0, vol);
      }
    }
    this.next();
    if (field === 'device') vol.device = this.device(t);
    else if (field === 'disk') {
      const v = this.value("a backing device path or 'none'", 'disk');
      this.expectSemicolon(`disk ${v.text}`);
      vol.disk = v.text === 'none' ? null : v.text;
    } else vol.metaDisk = this.metaDisk(t);
    return true;
  }

  /** `device /dev/drbdN`, `device minor N`, `device /dev/drbdN minor N`, `device /dev/drbd_NAME minor N`. */
  private device(keyword: Token): { device: string | null; minor: number } {
    let path: Token | null = null;
    let minor: number | null = null;
    const minorAfter = (): void => {
      const m = this.value('a minor number', 'minor');
      if (!/^\d+$/.test(m.text) || Number(m.text) > MAX_MINOR) {
        this.fail('DRBD_CONF_BAD_VALUE', m, `bad minor ${describe(m)}; expected a number 0..${MAX_MINOR}`);
      }
      minor = Number(m.text);
    };
    if (this.peek().kind === 'word' && this.peek().text === 'minor') {
      this.next();
      minorAfter();
    } else {
      path = this.value('/dev/drbdN or minor N', 'device');
      if (this.peek().kind === 'word' && this.peek().text === 'minor') {
        this.next();
        minorAfter();
      }
    }
    this.expectSemicolon(path === null ? `device minor ${minor}` : `device ${path.text}${minor === null ? '' : ` minor ${minor}`}`);
    if (path === null) return { device: null, minor: minor! };
    // `/dev/` is optional but the name must start with drbd (drbdadm's rule).
    const name = path.text.startsWith('/dev/') ? path.text.slice(5) : path.text;
    if (!name.startsWith('drbd')) {
      this.fail('DRBD_CONF_BAD_VALUE', path, `bad device name ${describe(path)}; expected /dev/drbdN, or /dev/drbd_NAME with 'minor N'`);
    }
    const fromName = /^drbd(\d+)$/.exec(name);
    if (fromName !== null) {
      const n = Number(fromName[1]);
      if (minor !== null && minor !== n) {
        this.fail('DRBD_CONF_BAD_VALUE', path, `device ${describe(path)} does not match 'minor ${minor}'; expected /dev/drbd${minor} minor ${minor}, or leave one of them off`);
      }
      minor ??= n;
    }
    if (minor === null) {
      this.fail('DRBD_CONF_BAD_VALUE', path, `device ${describe(path)} has no minor number; expected /dev/drbdN or '${path.text} minor N'`);
    }
    void keyword;
    return { device: `/dev/${name}`, minor };
  }

  /** `internal`, `PATH` (flexible external), `PATH[N]` / `PATH [N]` (indexed external). */
  private metaDisk(keyword: Token): MetaDisk {
    const v = this.value("'internal' or a device path", keyword.text);
    let md: MetaDisk;
    if (v.text === 'internal') md = { kind: 'internal' };
    else {
      const joined = /^(.+)\[(\d+)\]$/.exec(v.text);
      if (joined !== null) md = { kind: 'external', path: joined[1]!, index: Number(joined[2]) };
      else {
        md = { kind: 'external', path: v.text, index: null };
        const idx = this.peek();
        if (idx.kind === 'word' && idx.text.startsWith('[')) {
          // `PATH [N]` or `PATH [ N ]`
          let text = this.next().text;
          while (!text.endsWith(']') && this.peek().kind === 'word') text += this.next().text;
          const m = /^\[(\d+)\]$/.exec(text);
          if (m === null) this.fail('DRBD_CONF_BAD_VALUE', idx, `bad meta-disk index '${text}'; expected [N] with N a number`);
          md.index = Number(m[1]);
        }
      }
      if (md.kind === 'external' && keyword.text === 'flexible-meta-disk' && md.index !== null) {
        this.fail('DRBD_CONF_BAD_VALUE', v, `'flexible-meta-disk' takes no index; expected 'meta-disk ${md.path} [${md.index}]' or no index`);
      }
    }
    this.expectSemicolon(keyword.text);
    return md;
  }

  /** DRBD 9 `connection-mesh { hosts a b c; net { } }`. */
  private connectionMesh(keyword: Token): { hosts: string[]; net: OptionSection; at: SourceLocation } {
    const mesh = { hosts: [] as string[], net: new Map() as OptionSection, at: this.loc(keyword) };
    this.openSection('connection-mesh', keyword);
    this.sectionBody((t) => {
      if (t.text === 'hosts') {
        this.next();
        while (this.peek().kind === 'word') mesh.hosts.push(this.next().text);
        if (mesh.hosts.length === 0) this.fail('DRBD_CONF_SYNTAX', this.peek(), `'hosts' needs host names; got ${describe(this.peek())}`);
        this.expectSemicolon(`hosts ${mesh.hosts.join(' ')}`);
        return;
      }
      if (t.text === 'net' && this.peek(1).kind === '{') {
        this.next();
        this.optionSection('net', 'net', t, mesh.net);
        return;
      }
      this.unknownKeyword(t, 'connection-mesh', ['hosts', 'net']);
    });
    return mesh;
  }

  /**
   * DRBD 9 `connection [NAME] { host A [address ...] [port P] [via ...]; net { } path { } ... }`.
   * Read loosely: host names and net options are kept, the rest is skipped.
   */
  private connection(keyword: Token): ConnectionSyntax {
    const conn: ConnectionSyntax = { hosts: [], net: new Map(), at: this.loc(keyword) };
    while (this.peek().kind === 'word' || this.peek().kind === 'string') this.next(); // optional name
    this.openSection('connection', keyword);
    this.sectionBody((t) => {
      if (t.text === 'net' && this.peek(1).kind === '{') {
        this.next();
        this.optionSection('net', 'net', t, conn.net);
        return;
      }
      if (t.text === 'host') {
        this.next();
        conn.hosts.push(this.value('a host name', 'host').text);
      }
      this.skipStatement();
    });
    return conn;
  }

  /** Skips `words... ;` or `words... { balanced }`. */
  private skipStatement(): void {
    for (;;) {
      const t = this.peek();
      if (t.kind === ';') {
        this.next();
        return;
      }
      if (t.kind === '}' || t.kind === 'eof') return;
      if (t.kind === '{') {
        this.skipBlock(this.prev());
        return;
      }
      this.next();
    }
  }
}
