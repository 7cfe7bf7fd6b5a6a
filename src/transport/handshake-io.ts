/**
 * The handshake on a live socket, as RxJS Observables: reading the first frame (with a timeout),
 * dialling a peer and waiting for its answer, and answering or refusing an accepted socket.
 *
 * Hand-over protocol: when a handshake has been read, the socket is paused and every listener
 * added here is removed before the value is emitted, so the subscriber can attach its own reader
 * (and resume) without losing bytes; bytes that arrived with the handshake come as `leftover`.
 * Unsubscribing before the value destroys nothing but the listeners (readHandshake) or the socket
 * (dial). A permanent no-op 'error' listener is installed on every socket so that an error racing
 * a hand-over can never become an uncaught exception.
 */
import net, { type Socket } from 'node:net';
import { Observable } from 'rxjs';
import { HandshakeReader, type Handshake } from './handshake.js';

export type HandshakeFailureKind = 'timeout' | 'closed' | 'garbage' | 'error';

export class HandshakeFailure extends Error {
  constructor(
    readonly kind: HandshakeFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'HandshakeFailure';
  }
}

export interface HandshakeRead {
  handshake: Handshake;
  leftover: Uint8Array;
}

const noop = (): void => {};

/** Makes sure a socket always has an 'error' listener (idempotent). */
export function guardErrors(socket: Socket): void {
  if (!socket.listeners('error').includes(noop)) socket.on('error', noop);
}

/** Reads the first frame of `socket` as a handshake; errors with a HandshakeFailure. */
export function readHandshake(socket: Socket, timeoutMs: number): Observable<HandshakeRead> {
  return new Observable<HandshakeRead>((subscriber) => {
    guardErrors(socket);
    const reader = new HandshakeReader();
    let lastError: Error | null = null;
    const detach = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      clearTimeout(timer);
    };
    const fail = (kind: HandshakeFailureKind, message: string): void => {
      detach();
      subscriber.error(new HandshakeFailure(kind, message));
    };
    const onData = (chunk: Buffer): void => {
      const step = reader.push(chunk);
      if (step.state === 'need-more') return;
      if (step.state === 'error') {
        fail('garbage', step.reason);
        return;
      }
      socket.pause();
      detach();
      subscriber.next({ handshake: step.handshake, leftover: step.leftover });
      subscriber.complete();
    };
    const onError = (e: Error): void => {
      lastError = e;
    };
    const onClose = (): void => {
      fail(lastError ? 'error' : 'closed', lastError ? lastError.message : 'connection closed during the handshake');
    };
    const timer = setTimeout(() => fail('timeout', `no handshake within ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.resume();
    return detach;
  });
}

export interface Dialled extends HandshakeRead {
  socket: Socket;
}

/**
 * Connects to host:port, sends `hello` and waits for the acceptor's answer (accept or reject, not
 * checked here). The whole exchange, TCP connect included, must finish within `timeoutMs`.
 * Unsubscribing before the answer destroys the socket.
 */
export function dial(host: string, port: number, hello: Buffer, timeoutMs: number): Observable<Dialled> {
  return new Observable<Dialled>((subscriber) => {
    const started = Date.now();
    const socket = net.connect({ host, port });
    guardErrors(socket);
    socket.setNoDelay(true);
    let handedOver = false;
    let lastError: Error | null = null;
    const onError = (e: Error): void => {
      lastError = e;
    };
    const onEarlyClose = (): void => {
      clearTimeout(connectTimer);
      subscriber.error(new HandshakeFailure('error', lastError ? lastError.message : 'connection closed before it opened'));
    };
    const connectTimer = setTimeout(() => {
      socket.destroy();
      subscriber.error(new HandshakeFailure('timeout', `no TCP connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', onError);
    socket.once('close', onEarlyClose);
    let inner: { unsubscribe(): void } | null = null;
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      socket.off('close', onEarlyClose);
      socket.off('error', onError);
      socket.write(hello);
      const left = Math.max(1, timeoutMs - (Date.now() - started));
      inner = readHandshake(socket, left).subscribe({
        next: (r) => {
          handedOver = true;
          subscriber.next({ socket, ...r });
          subscriber.complete();
        },
        error: (e: unknown) => {
          socket.destroy();
          subscriber.error(e);
        },
      });
    });
    return () => {
      clearTimeout(connectTimer);
      inner?.unsubscribe();
      socket.off('close', onEarlyClose);
      socket.off('error', onError);
      if (!handedOver) socket.destroy();
    };
  });
}

/** Sends a final frame (e.g. a reject) and closes; destroys the socket if the peer does not close in time. */
export function endWith(socket: Socket, frame: Buffer | null, graceMs = 2000): void {
  guardErrors(socket);
  if (socket.destroyed) return;
  const t = setTimeout(() => socket.destroy(), graceMs);
  t.unref();
  socket.once('close', () => clearTimeout(t));
  // Discard whatever the peer still sends, so that its FIN (and our 'close') can arrive.
  socket.on('data', noop);
  socket.resume();
  if (frame) socket.end(frame);
  else socket.end();
}
