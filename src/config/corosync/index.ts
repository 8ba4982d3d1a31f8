// Public API of the corosync.conf reader.
export { parseCorosyncConf } from './parser.js';
export { clusterConfigFrom } from './cluster-config.js';
export { CorosyncConfigError, type CorosyncConfigErrorCode } from './errors.js';
export { entry, entriesUnder, sectionsAt, type CorosyncEntry, type CorosyncSection, type CorosyncTree } from './tree.js';
export { DEFAULT_TOKEN_MS, DEFAULT_JOIN_MS, DEFAULT_MAX_NETWORK_DELAY_MS, DEFAULT_PORT, MINIMUM_TIMEOUT_MS } from './totem.js';
export { DEFAULT_ARBITER_PORT, DEFAULT_LAST_MAN_STANDING_WINDOW_MS, QUORUM_PROVIDER } from './quorum.js';
export { LINE_BYTES_MAX } from './syntax.js';
