/** What the two channel managers share: configuration, the handler, and the event sinks. */
import type { Logger } from 'pino';
import type { ServerSpec } from '../config/types.js';
import type { PeerMessage, ServerId } from '../protocol/messages.js';
import type { TransportHandler } from '../runtime/ports.js';
import type { Channel, ConnectionEvent, TransportStats } from './types.js';

export interface ChannelContext {
  readonly self: ServerId;
  readonly clusterId: string;
  readonly servers: ReadonlyMap<ServerId, ServerSpec>;
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  /** the attached protocol runtime, or null (not attached yet, or shut down) */
  handler(): TransportHandler | null;
  connectionEvent(ev: ConnectionEvent): void;
  /** publishes an inbound message for inspection (cheap when nobody observes) */
  inbound(from: ServerId, channel: Channel, msg: PeerMessage): void;
  readonly counters: TransportStats['counters'];
}
