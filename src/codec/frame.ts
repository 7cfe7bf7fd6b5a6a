/**
 * Length-prefixed framing for a byte stream: each frame is a 4-byte big-endian payload length
 * followed by the payload. Lengths of 0 and above the configured maximum are protocol errors.
 *
 * FrameDecoder returns payloads as zero-copy views into the pushed chunk whenever a frame lies
 * within one chunk; a frame spanning chunks is assembled with exactly one copy when its last byte
 * arrives. Pending parts are kept as views, so callers must not reuse a chunk's memory after
 * pushing it (Node's socket 'data' chunks are fresh buffers, so this holds for sockets).
 */
import { protocolError, type ProtocolError } from './errors.js';

export const FRAME_HEADER_SIZE = 4;
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** The prefix is a uint32, so no frame can be larger than this whatever the configuration. */
export const ABSOLUTE_MAX_FRAME_SIZE = 0xffffffff;

export interface FrameOptions {
  /** largest accepted payload in bytes (default 16 MiB) */
  maxFrameSize?: number;
}

function resolveMax(options: FrameOptions | undefined): number {
  const max = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isInteger(max) || max < 1 || max > ABSOLUTE_MAX_FRAME_SIZE) {
    throw new RangeError(`maxFrameSize must be an integer in 1..${ABSOLUTE_MAX_FRAME_SIZE}, got ${max}`);
  }
  return max;
}

/** Throws RangeError when a payload cannot be framed: sending it would make the peer drop us. */
export function checkFrameSize(size: number, maxFrameSize: number): void {
  if (size === 0) throw new RangeError('cannot frame an empty payload');
  if (size > maxFrameSize) throw new RangeError(`payload of ${size} bytes exceeds the maximum frame size ${maxFrameSize}`);
}

/** Header + payload in one fresh Buffer (one write per socket). */
export function encodeFrame(payload: Uint8Array, options?: FrameOptions): Buffer {
  checkFrameSize(payload.length, resolveMax(options));
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export interface FramePushResult {
  /** complete payloads, in stream order (those before an error are still delivered) */
  frames: Uint8Array[];
  /** set once the stream is broken; the decoder then stays failed */
  error: ProtocolError | null;
}

export class FrameDecoder {
  readonly maxFrameSize: number;
  // Header bytes seen so far when a prefix is split across chunks.
  private readonly header = new Uint8Array(FRAME_HEADER_SIZE);
  private headerFill = 0;
  /** payload length of the frame being assembled, or -1 while reading a header */
  private bodyLength = -1;
  private bodyFill = 0;
  private parts: Uint8Array[] = [];
  private failure: ProtocolError | null = null;

  constructor(options?: FrameOptions) {
    this.maxFrameSize = resolveMax(options);
  }

  get error(): ProtocolError | null {
    return this.failure;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Bytes received but not yet returned as a frame (header bytes included). */
  get bufferedBytes(): number {
    return this.bodyLength < 0 ? this.headerFill : FRAME_HEADER_SIZE + this.bodyFill;
  }

  push(chunk: Uint8Array): FramePushResult {
    const frames: Uint8Array[] = [];
    if (this.failure) return { frames, error: this.failure };
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.bodyLength < 0) {
        let length: number;
        if (this.headerFill === 0 && n - pos >= FRAME_HEADER_SIZE) {
          length = ((chunk[pos] << 24) | (chunk[pos + 1] << 16) | (chunk[pos + 2] << 8) | chunk[pos + 3]) >>> 0;
          pos += FRAME_HEADER_SIZE;
        } else {
          this.header[this.headerFill++] = chunk[pos++];
          if (this.headerFill < FRAME_HEADER_SIZE) continue;
          const h = this.header;
          length = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
          this.headerFill = 0;
        }
        const error = this.checkLength(length);
        if (error) return { frames, error };
        this.bodyLength = length;
        this.bodyFill = 0;
      }
      const available = n - pos;
      if (this.bodyFill === 0 && available >= this.bodyLength) {
        // Fast path: the whole payload is in this chunk.
        frames.push(chunk.subarray(pos, pos + this.bodyLength));
        pos += this.bodyLength;
        this.bodyLength = -1;
        continue;
      }
      const take = Math.min(available, this.bodyLength - this.bodyFill);
      this.parts.push(chunk.subarray(pos, pos + take));
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === this.bodyLength) frames.push(this.assemble());
    }
    return { frames, error: null };
  }

  private checkLength(length: number): ProtocolError | null {
    if (length === 0) this.failure = protocolError('empty-frame', 'frame length prefix is 0');
    else if (length > this.maxFrameSize) {
      this.failure = protocolError('oversized', `frame length ${length} exceeds the maximum frame size ${this.maxFrameSize}`);
    }
    if (this.failure) this.parts = [];
    return this.failure;
  }

  private assemble(): Uint8Array {
    const out = Buffer.allocUnsafe(this.bodyLength);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    this.parts = [];
    this.bodyLength = -1;
    this.bodyFill = 0;
    return out;
  }
}
