export { ConfigError } from './config-error.js';
export type { ServerRole, ServerSpec, ZabConfig, ZabSettings } from './types.js';
export { SETTINGS } from './settings.js';
export { parseZooCfg, loadZooCfg, formatZooCfg } from './zoo-cfg.js';
export { buildQuorumSystem } from './topology.js';
export { readMyId, selfServer } from './myid.js';
export { parseServerAddress, formatServerAddress, type ServerAddress } from './server-line.js';
