// corosync.conf reader: corosync's own line-based rules (exec/coroparse.c), checked in the
// same order and reported with the same words and line numbers. Per line: skip blanks and
// `#` comments; a `{` anywhere opens a section; else a `:` splits key and value at its first
// occurrence; else a lone `}` closes. While reading, typed keys are range-checked and keys
// are filed under corosync's cmap names (nodelist.node.<n>.*, totem.interface.<link>.*,
// logging.logger_subsys.<subsys>.*), as its parser callback does.

import { CorosyncConfigError, type CorosyncConfigErrorCode } from './errors.js';
import { CMAP_PATH_BYTES_MAX, LINE_BYTES_MAX, afterFirst, isBlank, splitLines, trimLikeCorosync, utf8Bytes } from './syntax.js';
import type { CorosyncEntry, CorosyncSection, CorosyncTree } from './tree.js';
import {
  ENUM_PATHS,
  INTERFACE_KEYS,
  TYPED_PATHS,
  U64_PATHS,
  cmapStoreMessage,
  intRangeMessage,
  isValidCmapKey,
  parseCInteger,
  parseCUnsigned64,
  unsigned64Message,
  type IntType,
} from './values.js';

/** Which part of the file a line is in, as corosync's parser callback tracks it. */
type State =
  | 'normal'
  | 'totem'
  | 'interface'
  | 'member'
  | 'system'
  | 'logger_subsys'
  | 'logging_daemon'
  | 'uidgid'
  | 'quorum'
  | 'qdevice'
  | 'nodelist'
  | 'node'
  | 'resources'
  | 'resources_system'
  | 'resources_process';

const RESOURCES_PROCESS = 'resources.process';

/** Section paths that switch the state; other sections inherit their parent's. */
const STATE_OF_PATH: ReadonlyMap<string, State> = new Map<string, State>([
  ['totem', 'totem'],
  ['totem.interface', 'interface'],
  ['totem.interface.member', 'member'],
  ['system', 'system'],
  ['logging.logger_subsys', 'logger_subsys'],
  ['logging.logging_daemon', 'logging_daemon'],
  ['uidgid', 'uidgid'],
  ['quorum', 'quorum'],
  ['quorum.device', 'qdevice'],
  ['nodelist', 'nodelist'],
  ['nodelist.node', 'node'],
  ['resources', 'resources'],
  ['resources.system', 'resources_system'],
  ['resources.system.memory_used', 'resources_system'],
  [RESOURCES_PROCESS, 'resources_process'],
  [`${RESOURCES_PROCESS}.memory_used`, 'resources_process'],
]);

interface Frame {
  path: string;
  state: State;
  section: CorosyncSection | null;
}

interface Held {
  key: string;
  value: string;
  line: number;
}

/** Keys corosync holds back until a section closes, then files under a name it learns late. */
interface Pending {
  linknumber: number;
  interfaceItems: Map<string, Held>;
  members: Held[];
  subsys: string | null;
  daemonName: string | null;
  loggingItems: Held[];
}

const freshPending = (): Pending => ({ linknumber: 0, interfaceItems: new Map(), members: [], subsys: null, daemonName: null, loggingItems: [] });

export function parseCorosyncConf(text: string, file: string): CorosyncTree {
  return new Reader(text, file).read();
}

class Reader {
  private readonly entries = new Map<string, CorosyncEntry>();
  private readonly sections: CorosyncSection[] = [];
  private readonly stack: Frame[] = [{ path: '', state: 'normal', section: null }];
  private pending = freshPending();
  private nodeNumber = 0;
  private lineNo = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  read(): CorosyncTree {
    for (const raw of splitLines(this.text)) {
      this.lineNo++;
      this.line(raw);
    }
    if (this.stack.length > 1) this.fail('COROSYNC_CONF_SYNTAX', 'Missing closing brace');
    return { file: this.file, entries: this.entries, sections: this.sections };
  }

  private fail(code: CorosyncConfigErrorCode, detail: string, line = this.lineNo): never {
    throw new CorosyncConfigError(code, { file: this.file, line }, detail, true);
  }

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  private line(raw: string): void {
    if (raw.includes('\0')) {
      // corosync's C strings would end at the NUL and misread the rest; refuse plainly instead.
      this.fail('COROSYNC_CONF_SYNTAX', 'Line contains a NUL character (is this a text file?)');
    }
    if (utf8Bytes(raw) >= LINE_BYTES_MAX) this.fail('COROSYNC_CONF_SYNTAX', 'Line too long');
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let end = line.length;
    while (end > 0 && isBlank(line[end - 1])) end--;
    line = line.slice(0, end);
    let first = 0;
    while (first < line.length && isBlank(line[first])) first++;
    if (first === line.length || line[first] === '#') return;

    const afterBrace = afterFirst(line, '{');
    if (afterBrace >= 0) return this.open(line, afterBrace);
    const afterColon = afterFirst(line, ':');
    if (afterColon >= 0) return this.item(line, afterColon);
    if (line.includes('}')) return this.close(line);
    this.fail('COROSYNC_CONF_SYNTAX', 'Line is not opening or closing section or key value');
  }

  private open(line: string, after: number): void {
    const name = trimLikeCorosync(line.slice(0, after - 1), true);
    const rest = trimLikeCorosync(line.slice(after), false);
    if (name === '') this.fail('COROSYNC_CONF_SYNTAX', "Missing section name before opening bracket '{'");
    if (rest !== '') this.fail('COROSYNC_CONF_SYNTAX', "Extra characters after opening bracket '{'");
    const parent = this.top;
    if (utf8Bytes(parent.path) + utf8Bytes(name) + 1 >= CMAP_PATH_BYTES_MAX) {
      this.fail('COROSYNC_CONF_SYNTAX', 'Start of section makes total cmap path too long');
    }
    const path = parent.path === '' ? name : `${parent.path}.${name}`;
    if (parent.state === 'logger_subsys' || parent.state === 'logging_daemon') {
      // corosync 3.1.7 frees the held items twice here and aborts; refuse with a message instead.
      this.fail('COROSYNC_CONF_SYNTAX', `Subsections are not allowed within ${parent.path} section`);
    }
    const state = STATE_OF_PATH.get(path) ?? parent.state;
    if (path === 'totem.interface' || path === 'logging.logger_subsys' || path === 'logging.logging_daemon') this.pending = freshPending();
    if (path === 'nodelist') this.nodeNumber = 0;
    const section: CorosyncSection = { path, cmapPrefix: this.remap(path, state), line: this.lineNo, endLine: 0 };
    this.sections.push(section);
    this.stack.push({ path, state, section });
  }

  /** Where a path's keys land in cmap: only node sections (and anything inside them) are renumbered on the spot. */
  private remap(path: string, state: State): string {
    return state === 'node' ? `nodelist.node.${this.nodeNumber}` : path;
  }

  private item(line: string, after: number): void {
    const key = trimLikeCorosync(line.slice(0, after - 1), true);
    const value = trimLikeCorosync(line.slice(after), false);
    if (key === '') this.fail('COROSYNC_CONF_SYNTAX', "Key name can't be empty");
    const frame = this.top;
    if (utf8Bytes(frame.path) + utf8Bytes(key) + 1 >= CMAP_PATH_BYTES_MAX) {
      this.fail('COROSYNC_CONF_SYNTAX', 'New key makes total cmap path too long');
    }
    const path = frame.path === '' ? key : `${frame.path}.${key}`;
    this.itemIn(frame.state, path, key, value);
  }

  private itemIn(state: State, path: string, key: string, value: string): void {
    switch (state) {
      case 'node': {
        // corosync 3.1.7 files a key of a node's subsection as if it were written in the node itself.
        const name = `nodelist.node.${this.nodeNumber}.${key}`;
        const type = TYPED_PATHS.get(`nodelist.node.${key}`);
        return this.store(name, type ? this.integer(name, type, value) : value);
      }
      case 'interface': {
        const k = path.slice('totem.interface.'.length);
        const type = INTERFACE_KEYS.get(k);
        if (type === undefined) return this.store(path, value);
        const v = type === 'string' ? value : this.integer(path, type, value);
        if (k === 'linknumber') this.pending.linknumber = Number(v);
        else this.pending.interfaceItems.set(k, { key: k, value: v, line: this.lineNo });
        return;
      }
      case 'member':
        if (path !== 'totem.interface.member.memberaddr') this.fail('COROSYNC_CONF_BAD_VALUE', 'Only memberaddr is allowed in member section');
        this.pending.members.push({ key, value, line: this.lineNo });
        return;
      case 'logger_subsys':
        if (path === 'logging.logger_subsys.subsys') this.pending.subsys = value;
        else this.pending.loggingItems.push({ key: path.slice('logging.logger_subsys.'.length), value, line: this.lineNo });
        return;
      case 'logging_daemon':
        if (path === 'logging.logging_daemon.subsys') this.pending.subsys = value;
        else if (path === 'logging.logging_daemon.name') this.pending.daemonName = value;
        else this.pending.loggingItems.push({ key: path.slice('logging.logging_daemon.'.length), value, line: this.lineNo });
        return;
      case 'uidgid':
        // corosync resolves user and group names here; a pure reader cannot, and we do not use them.
        if (path !== 'uidgid.uid' && path !== 'uidgid.gid') this.fail('COROSYNC_CONF_BAD_VALUE', 'uidgid: Only uid and gid are allowed items');
        return this.store(path, value);
      case 'resources':
        if (key === 'watchdog_timeout') return this.store(path, this.integer(path, 'u32', value));
        return this.store(path, value);
      case 'resources_system':
      case 'resources_process':
        if (key === 'poll_period') return this.store(path, this.unsigned64(path, value));
        return this.store(path, value);
      default: {
        const type = TYPED_PATHS.get(path);
        if (type) return this.store(path, this.integer(path, type, value));
        if (U64_PATHS.has(path)) return this.store(path, this.unsigned64(path, value));
        const rule = ENUM_PATHS.get(path);
        if (rule && !rule.allowed.includes(value)) this.fail('COROSYNC_CONF_BAD_VALUE', rule.message);
        return this.store(path, value);
      }
    }
  }

  private integer(key: string, type: IntType, value: string): string {
    const n = parseCInteger(value, type);
    if (n === null) this.fail('COROSYNC_CONF_BAD_VALUE', intRangeMessage(key, type, value));
    return String(n);
  }

  private unsigned64(key: string, value: string): string {
    const n = parseCUnsigned64(value);
    if (n === null) this.fail('COROSYNC_CONF_BAD_VALUE', unsigned64Message(key, value));
    return n.toString();
  }

  private store(key: string, value: string, line = this.lineNo): void {
    const known = this.entries.get(key);
    if (!known && !isValidCmapKey(key)) this.fail('COROSYNC_CONF_BAD_VALUE', cmapStoreMessage(key));
    if (known) {
      known.value = value;
      known.line = line;
    } else this.entries.set(key, { key, value, line });
  }

  private close(line: string): void {
    if (trimLikeCorosync(line, false) !== '}') this.fail('COROSYNC_CONF_SYNTAX', "Extra characters before or after closing bracket '}'");
    if (this.stack.length === 1) this.fail('COROSYNC_CONF_SYNTAX', 'Unexpected closing brace');
    const frame = this.stack.pop()!;
    frame.section!.endLine = this.lineNo;
    if (frame.path === 'totem.interface') this.closeInterface(frame.section!);
    else if (frame.path === 'logging.logger_subsys') this.closeLoggerSubsys(frame.section!);
    else if (frame.path === 'logging.logging_daemon') this.closeLoggingDaemon();
    else if (frame.path === 'nodelist.node') this.nodeNumber++;
  }

  private closeInterface(section: CorosyncSection): void {
    const p = this.pending;
    const prefix = `totem.interface.${p.linknumber}`;
    section.cmapPrefix = prefix;
    for (const h of p.interfaceItems.values()) this.store(`${prefix}.${h.key}`, h.value, h.line);
    // corosync keeps members on a list it prepends to, so they come out last-first.
    [...p.members].reverse().forEach((h, i) => this.store(`${prefix}.member.${i}`, h.value, h.line));
    p.interfaceItems.clear();
    p.members = [];
  }

  private closeLoggerSubsys(section: CorosyncSection): void {
    const p = this.pending;
    if (p.subsys === null) this.fail('COROSYNC_CONF_MISSING', 'No subsys key in logger_subsys directive');
    const prefix = `logging.logger_subsys.${p.subsys}`;
    section.cmapPrefix = prefix;
    for (const h of [...p.loggingItems].reverse()) this.store(`${prefix}.${h.key}`, h.value, h.line);
    this.store(`${prefix}.subsys`, p.subsys);
    this.pending = freshPending();
  }

  private closeLoggingDaemon(): void {
    const p = this.pending;
    const name = p.daemonName;
    if (name === null) this.fail('COROSYNC_CONF_MISSING', 'No name key in logging_daemon directive');
    const self = name === 'corosync';
    const prefix =
      p.subsys === null
        ? self ? 'logging' : `logging.logging_daemon.${name}`
        : self ? `logging.logger_subsys.${p.subsys}` : `logging.logging_daemon.${name}.${p.subsys}`;
    for (const h of [...p.loggingItems].reverse()) this.store(`${prefix}.${h.key}`, h.value, h.line);
    if (p.subsys === null) {
      if (!self) this.store(`${prefix}.name`, name);
    } else {
      this.store(`${prefix}.subsys`, p.subsys);
      if (!self) this.store(`${prefix}.name`, name);
    }
    this.pending = freshPending();
  }
}
