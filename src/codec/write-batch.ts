/**
 * Writes the frames gathered in one tick to a socket as one syscall: copied into one buffer when
 * small (cheaper than a writev of many small pieces), under cork/uncork (one writev) when large.
 */
import type { Socket } from 'node:net';

/** Batches up to this many bytes are copied into one buffer. */
export const CONCAT_MAX_BYTES = 64 * 1024;

export function writeBatch(socket: Socket, frames: readonly Uint8Array[], bytes: number): void {
  if (frames.length === 0) return;
  if (frames.length === 1) socket.write(frames[0]!);
  else if (bytes <= CONCAT_MAX_BYTES) socket.write(Buffer.concat(frames, bytes));
  else {
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
  }
}
