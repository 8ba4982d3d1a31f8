// What parseCorosyncConf returns: the keys as corosync stores them in its cmap
// (nodelist.node.<n>.<key>, totem.interface.<link>.<key>, logging.logger_subsys.<subsys>.<key>),
// each with the line that set it, plus every section with its lines. Values stay strings;
// typed keys have already been checked by the parser.

export interface CorosyncEntry {
  /** Dotted cmap key, after corosync's remapping. */
  key: string;
  /** The value as written, trimmed; typed keys have been range-checked. */
  value: string;
  /** Line of the `key: value` line that set it (the last one, when a key repeats). */
  line: number;
}

export interface CorosyncSection {
  /** Dotted path as written: `nodelist.node`, `totem.interface`, `quorum.device.net`. */
  path: string;
  /** Where corosync files this section's keys: `nodelist.node.1`, `totem.interface.0`, `logging.logger_subsys.QUORUM`. */
  cmapPrefix: string;
  /** Line of `name {`. */
  line: number;
  /** Line of the closing `}`. */
  endLine: number;
}

export interface CorosyncTree {
  file: string;
  /** Keys in the order they were first stored; a repeated key keeps corosync's last value. */
  entries: ReadonlyMap<string, CorosyncEntry>;
  /** Sections in the order they were opened. */
  sections: readonly CorosyncSection[];
}

export function entry(tree: CorosyncTree, key: string): CorosyncEntry | undefined {
  return tree.entries.get(key);
}

/** Entries whose key starts with `prefix.`, in file order. */
export function entriesUnder(tree: CorosyncTree, prefix: string): CorosyncEntry[] {
  const p = `${prefix}.`;
  return [...tree.entries.values()].filter((e) => e.key.startsWith(p));
}

export function sectionsAt(tree: CorosyncTree, path: string): CorosyncSection[] {
  return tree.sections.filter((s) => s.path === path);
}
