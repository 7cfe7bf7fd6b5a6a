/**
 * One open peer connection (handshake done): frames PeerMessages in and out of a socket.
 *
 * In: a `fromEvent(socket, 'data')` pipeline pushes chunks through a FrameDecoder and the peer codec
 * and hands each message to the sink synchronously, in arrival order. A malformed, oversized or
 * undecodable frame closes this connection (never throws out of the socket callback).
 *
 * Out: frames written in one tick are batched and handed to the socket as one write (copied into
 * one buffer when small, else under cork/uncork: one writev). The bytes not yet taken by the kernel
 * (socket.writableLength) plus the batch are bounded by maxQueueBytes: a peer that does not read
 * fast enough is disconnected instead of letting the queue grow without bound.
 *
 * Closing: `close()` (local) flushes the batch and ends the socket gracefully; protocol errors and
 * slow peers destroy it. The sink's `closed` is called exactly once, from the socket's 'close'
 * event, so never re-entrantly from inside a send.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { fromEvent, type Subscription } from 'rxjs';
import { FrameDecoder } from '../codec/frame.js';
import { decodePeerMessage } from '../codec/peer-codec.js';
import { writeBatch } from '../codec/write-batch.js';
import type { PeerMessage, ServerId } from '../protocol/messages.js';
import type { Channel, ConnectionStats, Direction } from './types.js';

/** local: closed by this server; remote: by the peer; protocol: bad bytes; slow: queue bound; error: socket error or handler failure */
export type CloseCause = 'local' | 'remote' | 'protocol' | 'slow' | 'error';

const KEEPALIVE_MS = 10_000;

export interface ConnectionSink {
  message(conn: PeerConnection, msg: PeerMessage): void;
  closed(conn: PeerConnection, reason: string, cause: CloseCause): void;
}

export interface PeerConnectionOptions {
  peer: ServerId;
  channel: Channel;
  direction: Direction;
  maxFrameBytes: number;
  maxQueueBytes: number;
  logger: Logger;
  /** a locally closed socket whose peer does not close within this many ms is destroyed */
  endGraceMs?: number;
}

export class PeerConnection {
  readonly peer: ServerId;
  readonly channel: Channel;
  readonly direction: Direction;
  readonly openedAt = Date.now();
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;

  private readonly decoder: FrameDecoder;
  private readonly log: Logger;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private flushQueued = false;
  private closing: { reason: string; cause: CloseCause } | null = null;
  private lastError: Error | null = null;
  private readonly subs: Subscription[] = [];
  private endTimer: NodeJS.Timeout | null = null;
  private readonly flushFn = (): void => this.flush();

  constructor(
    private readonly socket: Socket,
    private readonly opts: PeerConnectionOptions,
    private readonly sink: ConnectionSink,
  ) {
    this.peer = opts.peer;
    this.channel = opts.channel;
    this.direction = opts.direction;
    this.decoder = new FrameDecoder({ maxFrameSize: opts.maxFrameBytes });
    this.log = opts.logger;
    if (!socket.destroyed) {
      socket.setNoDelay(true);
      // Probes an idle connection, so a peer that vanished without a FIN is noticed eventually.
      socket.setKeepAlive(true, KEEPALIVE_MS);
    }
  }

  /** Starts reading: first the bytes that came with the handshake, then the socket. */
  start(leftover: Uint8Array): void {
    const s = this.socket;
    this.subs.push(fromEvent(s, 'error', (e: Error) => e).subscribe((e) => (this.lastError = e)));
    this.subs.push(fromEvent(s, 'close').subscribe(() => this.onSocketClose()));
    this.subs.push(fromEvent(s, 'data', (chunk: Buffer) => chunk).subscribe((chunk) => this.onData(chunk)));
    if (s.destroyed) {
      // Closed during the hand-over: 'close' may already have been emitted.
      queueMicrotask(() => this.onSocketClose());
      return;
    }
    if (leftover.length > 0) this.onData(leftover);
    if (!this.closing) s.resume();
  }

  get isClosed(): boolean {
    return this.closing !== null;
  }

  /** Bytes written but not yet taken by the kernel, plus the batch of this tick. */
  get queuedBytes(): number {
    return (this.socket.destroyed ? 0 : this.socket.writableLength) + this.batchBytes;
  }

  /** Resolves true once at most `bytes` are queued, false if the connection closes first. */
  whenQueueBelow(bytes: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    if (this.queuedBytes <= bytes) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.closing) resolve(false);
        else if (this.queuedBytes <= bytes) resolve(true);
        else setTimeout(check, 2);
      };
      setTimeout(check, 2);
    });
  }

  /**
   * Queues one encoded frame; the same Buffer may be written to several connections (broadcast).
   * Returns false when the connection is closed or has just been closed for exceeding its bound.
   */
  write(frame: Buffer): boolean {
    if (this.closing) return false;
    const queued = this.queuedBytes;
    // One message is always accepted into an empty queue, however large, or nothing could pass.
    if (queued > 0 && queued + frame.length > this.opts.maxQueueBytes) {
      this.fail(
        'slow',
        `peer is not reading fast enough: ${queued + frame.length} bytes queued would exceed maxQueueBytes ${this.opts.maxQueueBytes}`,
      );
      return false;
    }
    this.batch.push(frame);
    this.batchBytes += frame.length;
    this.messagesOut++;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushFn);
    }
    return true;
  }

  /** Local close: flushes what was sent, then ends the socket gracefully. */
  close(reason: string): void {
    if (this.closing) return;
    this.closing = { reason, cause: 'local' };
    this.flush();
    const s = this.socket;
    if (s.destroyed) return;
    this.endTimer = setTimeout(() => s.destroy(), this.opts.endGraceMs ?? 2000);
    this.endTimer.unref();
    s.end();
  }

  /** Error close: drops what is queued and destroys the socket. */
  fail(cause: Exclude<CloseCause, 'local' | 'remote'>, reason: string): void {
    if (this.closing) return;
    this.closing = { reason, cause };
    this.batch = [];
    this.batchBytes = 0;
    this.log.warn({ peer: this.peer, channel: this.channel, direction: this.direction, cause }, `closing connection: ${reason}`);
    this.socket.destroy();
  }

  /** Local close without flushing (shutdown). */
  destroy(reason: string): void {
    if (this.closing) return;
    this.closing = { reason, cause: 'local' };
    this.batch = [];
    this.batchBytes = 0;
    this.socket.destroy();
  }

  stats(): ConnectionStats {
    return {
      peer: this.peer,
      channel: this.channel,
      direction: this.direction,
      queuedBytes: this.queuedBytes,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }

  private flush(): void {
    this.flushQueued = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    const bytes = this.batchBytes;
    this.batchBytes = 0;
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return;
    writeBatch(s, batch, bytes);
    this.bytesOut += bytes;
  }

  private onData(chunk: Buffer | Uint8Array): void {
    if (this.closing) return;
    this.bytesIn += chunk.length;
    const { frames, error } = this.decoder.push(chunk);
    for (let i = 0; i < frames.length; i++) {
      const r = decodePeerMessage(frames[i]);
      if (!r.ok) {
        const where = r.error.type ? ` (${r.error.type}${r.error.field ? `.${r.error.field}` : ''})` : '';
        this.fail('protocol', `undecodable frame from the peer: ${r.error.kind}${where}: ${r.error.message}`);
        return;
      }
      this.messagesIn++;
      try {
        this.sink.message(this, r.msg);
      } catch (e) {
        this.log.error({ peer: this.peer, channel: this.channel, err: e }, 'message handler threw; closing the connection');
        this.fail('error', `message handler threw: ${(e as Error)?.message ?? String(e)}`);
        return;
      }
      // The handler may have closed this connection (or shut the transport down).
      if (this.closing) return;
    }
    if (error) this.fail('protocol', `bad frame from the peer: ${error.kind}: ${error.message}`);
  }

  private onSocketClose(): void {
    if (this.subs.length === 0) return; // already handled
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    if (this.endTimer) clearTimeout(this.endTimer);
    const c = this.closing ?? {
      reason: this.lastError ? `connection error: ${this.lastError.message}` : 'closed by the peer',
      cause: this.lastError ? ('error' as const) : ('remote' as const),
    };
    this.closing = c;
    this.batch = [];
    this.batchBytes = 0;
    this.sink.closed(this, c.reason, c.cause);
  }
}
