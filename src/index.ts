/** Embedded API: run a server in-process and talk to an ensemble. */
export { ZabServer, startServer, ServerStartError, timingFromConfig, type ZabServerOptions, type StartServerOptions, type RoleState, type CommittedTxn } from './server/server.js';
export { ZabClient, ZabClientError, type ZabClientOptions, type ZabClientErrorCode, type ConnectionEvent, type ResultEvent } from './client/client.js';
export type {
  ClientErrorCode,
  CreateResult,
  DeleteResult,
  ExistsResult,
  GetChildrenResult,
  GetDataResult,
  MultiOp,
  MultiOpError,
  MultiOpResult,
  MultiResult,
  ServerStatus,
  SetDataResult,
  SyncResult,
  ZnodeStat,
} from './server/client-protocol.js';
export { DataTree, DataTreeError, type DataTreeOptions, type DataTreeRequest, type DataTreeTxn, type DataTreeResult, type Stat } from './app/data-tree.js';
export type { ReplicatedStateMachine } from './app/state-machine.js';
export { loadZooCfg, parseZooCfg, formatZooCfg, type ZabConfig, type ServerSpec } from './config/index.js';
