export { TcpPeerTransport, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './tcp-peer-transport.js';
export type {
  Channel,
  ConnectionEvent,
  ConnectionStats,
  Direction,
  InboundMessage,
  ReconnectOptions,
  TcpPeerTransportOptions,
  TransportStats,
} from './types.js';
export { PROTOCOL_VERSION, encodeHandshake, decodeHandshake, type Handshake } from './handshake.js';
