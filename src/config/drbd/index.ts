// Public API of the drbd.conf reader.
export * from './model.js';
export { parseDrbdConfig, type ParseOptions } from './config.js';
export { DrbdConfigError, type DrbdConfigErrorCode } from './errors.js';
export { findResource, hostFor, volumesFor } from './lookup.js';
export { optionInt, optionSize, optionBool, optionString, numberIn } from './values.js';
export { OPTION_TABLE, SYNCER_MOVES, RENAMED, specFor, type OptionSpec, type NumberUnit } from './options-table.js';
export { MAX_INCLUDE_DEPTH } from './includes.js';
export { DEFAULT_PROTOCOL } from './assemble.js';
