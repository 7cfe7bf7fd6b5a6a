/** Embedded API: run a server in-process and talk to an ensemble. */
export { ZabServer, startServer, ServerStartError, timingFromConfig, type ZabServerOptions, type StartServerOptions, type RoleState, type CommittedTxn } from './server/server.js';
export { ZabClient, ZabClientError, type ZabClientOptions, type ZabClientErrorCode, type ConnectionEvent, type ResultEvent } from './client/client.js';
export type { GetResult, ServerStatus, SyncResult, WriteResult, ClientErrorCode } from './server/client-protocol.js';
export { loadZooCfg, parseZooCfg, formatZooCfg, type ZabConfig, type ServerSpec } from './config/index.js';
