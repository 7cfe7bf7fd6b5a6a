/**
 * A strict, stateless subset of MessagePack: exactly the formats the peer codec uses (arrays,
 * unsigned integers, bin, str, bool). Hand-written rather than msgpackr because:
 *  - msgpackr's Unpackr honours record-definition extensions found in its *input* even with
 *    `useRecords: false`, i.e. a hostile frame could plant state that changes how later frames
 *    decode; here nothing survives a call;
 *  - unsupported formats (map, float, nil, ext, ...) are rejected up front instead of being turned
 *    into Dates/Maps/objects that validation then has to pick apart;
 *  - errors are classified precisely (truncated / bad type / out of range) by position and field.
 * The output is ordinary MessagePack that msgpackr (and any other implementation) can read.
 */

// ---- writing: callers size first (…Size), then write into an exactly-sized buffer ----

export function uintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n <= 0xffffffff ? 5 : 9;
}

/** `n` must be a non-negative safe integer (callers validate). Returns the new position. */
export function writeUint(buf: Uint8Array, dv: DataView, pos: number, n: number): number {
  if (n < 0x80) {
    buf[pos] = n;
    return pos + 1;
  }
  if (n < 0x100) {
    buf[pos] = 0xcc;
    buf[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    buf[pos] = 0xcd;
    dv.setUint16(pos + 1, n);
    return pos + 3;
  }
  if (n <= 0xffffffff) {
    buf[pos] = 0xce;
    dv.setUint32(pos + 1, n);
    return pos + 5;
  }
  buf[pos] = 0xcf;
  dv.setUint32(pos + 1, Math.floor(n / 0x100000000));
  dv.setUint32(pos + 5, n >>> 0);
  return pos + 9;
}

export const UINT64_SIZE = 9;

/** Always the fixed-width uint64 format, whatever the value: simple and branch-free. */
export function writeUint64(buf: Uint8Array, dv: DataView, pos: number, z: bigint): number {
  buf[pos] = 0xcf;
  dv.setBigUint64(pos + 1, z);
  return pos + 9;
}

export function arrayHeaderSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

export function writeArrayHeader(buf: Uint8Array, dv: DataView, pos: number, n: number): number {
  if (n < 16) {
    buf[pos] = 0x90 | n;
    return pos + 1;
  }
  if (n < 0x10000) {
    buf[pos] = 0xdc;
    dv.setUint16(pos + 1, n);
    return pos + 3;
  }
  buf[pos] = 0xdd;
  dv.setUint32(pos + 1, n);
  return pos + 5;
}

export function binSize(length: number): number {
  return (length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length;
}

export function writeBin(buf: Uint8Array, dv: DataView, pos: number, data: Uint8Array): number {
  const n = data.length;
  if (n < 0x100) {
    buf[pos] = 0xc4;
    buf[pos + 1] = n;
    pos += 2;
  } else if (n < 0x10000) {
    buf[pos] = 0xc5;
    dv.setUint16(pos + 1, n);
    pos += 3;
  } else {
    buf[pos] = 0xc6;
    dv.setUint32(pos + 1, n);
    pos += 5;
  }
  buf.set(data, pos);
  return pos + n;
}

export function strSize(byteLength: number): number {
  return (byteLength < 32 ? 1 : byteLength < 0x100 ? 2 : byteLength < 0x10000 ? 3 : 5) + byteLength;
}

/** `byteLength` is `Buffer.byteLength(s)`; `buf` must be a Buffer for its UTF-8 writer. */
export function writeStr(buf: Buffer, dv: DataView, pos: number, s: string, byteLength: number): number {
  if (byteLength < 32) {
    buf[pos] = 0xa0 | byteLength;
    pos += 1;
  } else if (byteLength < 0x100) {
    buf[pos] = 0xd9;
    buf[pos + 1] = byteLength;
    pos += 2;
  } else if (byteLength < 0x10000) {
    buf[pos] = 0xda;
    dv.setUint16(pos + 1, byteLength);
    pos += 3;
  } else {
    buf[pos] = 0xdb;
    dv.setUint32(pos + 1, byteLength);
    pos += 5;
  }
  return pos + buf.write(s, pos, byteLength, 'utf8');
}

export function writeBool(buf: Uint8Array, pos: number, b: boolean): number {
  buf[pos] = b ? 0xc3 : 0xc2;
  return pos + 1;
}

// ---- reading ----

export type ReadFailureKind = 'truncated' | 'bad-field';

/** Thrown inside the Reader, caught and turned into a ProtocolError by the codec. */
export class ReadFailure {
  constructor(
    readonly kind: ReadFailureKind,
    readonly detail: string,
  ) {}
}

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER
const TWO_32 = 0x100000000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Names the MessagePack format of a leading byte, for error messages. */
export function describeFormat(b: number): string {
  if (b <= 0x7f) return 'positive fixint';
  if (b <= 0x8f) return 'map';
  if (b <= 0x9f) return 'array';
  if (b <= 0xbf) return 'str';
  if (b >= 0xe0) return 'negative fixint';
  switch (b) {
    case 0xc0:
      return 'nil';
    case 0xc1:
      return 'reserved byte 0xc1';
    case 0xc2:
    case 0xc3:
      return 'bool';
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return 'bin';
    case 0xca:
    case 0xcb:
      return 'float';
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
      return 'uint';
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      return 'int';
    case 0xd9:
    case 0xda:
    case 0xdb:
      return 'str';
    case 0xdc:
    case 0xdd:
      return 'array';
    case 0xde:
    case 0xdf:
      return 'map';
    default:
      return 'ext'; // c7-c9, d4-d8
  }
}

/**
 * Cursor over one payload. Every read checks bounds and throws ReadFailure; nothing is cached
 * between payloads. `bin` results are views into the payload (no copy).
 */
export class Reader {
  pos = 0;
  readonly end: number;
  private readonly dv: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.end = bytes.length;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** The next format byte, without consuming it. */
  peek(): number {
    if (this.pos >= this.end) throw new ReadFailure('truncated', 'payload ends before the value');
    return this.bytes[this.pos];
  }

  private need(n: number): void {
    if (this.end - this.pos < n) {
      throw new ReadFailure('truncated', `payload ends inside the value (needs ${n} bytes, ${this.end - this.pos} left)`);
    }
  }

  private wrongType(expected: string, b: number): ReadFailure {
    return new ReadFailure('bad-field', `expected ${expected}, got ${describeFormat(b)}`);
  }

  /** Array header; the element count is checked against the remaining bytes (>= 1 byte each). */
  arrayHeader(): number {
    const b = this.peek();
    let n: number;
    if ((b & 0xf0) === 0x90) {
      n = b & 0x0f;
      this.pos += 1;
    } else if (b === 0xdc) {
      this.need(3);
      n = this.dv.getUint16(this.pos + 1);
      this.pos += 3;
    } else if (b === 0xdd) {
      this.need(5);
      n = this.dv.getUint32(this.pos + 1);
      this.pos += 5;
    } else {
      throw this.wrongType('array', b);
    }
    if (n > this.end - this.pos) throw new ReadFailure('truncated', `array of ${n} elements cannot fit in ${this.end - this.pos} bytes`);
    return n;
  }

  /** Any MessagePack integer format whose value is an integer in 0..max (max <= 2^53-1). */
  uint(max: number): number {
    const b = this.peek();
    if (b <= 0x7f) {
      this.pos += 1;
      return b <= max ? b : this.outOfRange(b, max);
    }
    const dv = this.dv;
    const p = this.pos + 1;
    let v: number;
    let w: number; // encoded width
    switch (b) {
      case 0xcc:
        w = 2;
        this.need(w);
        v = this.bytes[p];
        break;
      case 0xcd:
        w = 3;
        this.need(w);
        v = dv.getUint16(p);
        break;
      case 0xce:
        w = 5;
        this.need(w);
        v = dv.getUint32(p);
        break;
      case 0xcf: {
        w = 9;
        this.need(w);
        const hi = dv.getUint32(p);
        if (hi > MAX_SAFE_HI) return this.outOfRange(dv.getBigUint64(p), max);
        v = hi * TWO_32 + dv.getUint32(p + 4);
        break;
      }
      case 0xd0:
        w = 2;
        this.need(w);
        v = dv.getInt8(p);
        break;
      case 0xd1:
        w = 3;
        this.need(w);
        v = dv.getInt16(p);
        break;
      case 0xd2:
        w = 5;
        this.need(w);
        v = dv.getInt32(p);
        break;
      case 0xd3: {
        w = 9;
        this.need(w);
        const big = dv.getBigInt64(p);
        if (big < 0n || big > BigInt(max)) return this.outOfRange(big, max);
        v = Number(big);
        break;
      }
      default:
        if (b >= 0xe0) return this.outOfRange(b - 0x100, max);
        throw this.wrongType('unsigned integer', b);
    }
    this.pos += w;
    return v >= 0 && v <= max ? v : this.outOfRange(v, max);
  }

  private outOfRange(v: number | bigint, max: number): never {
    throw new ReadFailure('bad-field', `value ${v} is out of range 0..${max}`);
  }

  /** A 64-bit unsigned value as bigint; uint64 is the canonical form, narrower integers are accepted. */
  uint64(): bigint {
    const b = this.peek();
    if (b === 0xcf) {
      this.need(9);
      const z = this.dv.getBigUint64(this.pos + 1);
      this.pos += 9;
      return z;
    }
    if (b === 0xd3) {
      this.need(9);
      const z = this.dv.getBigInt64(this.pos + 1);
      if (z < 0n) throw new ReadFailure('bad-field', `value ${z} is out of range 0..2^64-1`);
      this.pos += 9;
      return z;
    }
    return BigInt(this.uint(0xffffffff));
  }

  bool(): boolean {
    const b = this.peek();
    if (b === 0xc3 || b === 0xc2) {
      this.pos += 1;
      return b === 0xc3;
    }
    throw this.wrongType('bool', b);
  }

  /** A view into the payload: valid as long as the payload's memory is not reused. */
  bin(): Uint8Array {
    const b = this.peek();
    let n: number;
    let h: number;
    if (b === 0xc4) {
      this.need(2);
      n = this.bytes[this.pos + 1];
      h = 2;
    } else if (b === 0xc5) {
      this.need(3);
      n = this.dv.getUint16(this.pos + 1);
      h = 3;
    } else if (b === 0xc6) {
      this.need(5);
      n = this.dv.getUint32(this.pos + 1);
      h = 5;
    } else {
      throw this.wrongType('bin', b);
    }
    this.need(h + n);
    const start = this.pos + h;
    this.pos = start + n;
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + start, n);
  }

  /** UTF-8 text; invalid UTF-8 is a bad field (it would not survive a re-encode). */
  str(): string {
    const b = this.peek();
    let n: number;
    let h: number;
    if ((b & 0xe0) === 0xa0) {
      n = b & 0x1f;
      h = 1;
    } else if (b === 0xd9) {
      this.need(2);
      n = this.bytes[this.pos + 1];
      h = 2;
    } else if (b === 0xda) {
      this.need(3);
      n = this.dv.getUint16(this.pos + 1);
      h = 3;
    } else if (b === 0xdb) {
      this.need(5);
      n = this.dv.getUint32(this.pos + 1);
      h = 5;
    } else {
      throw this.wrongType('str', b);
    }
    this.need(h + n);
    const start = this.pos + h;
    this.pos = start + n;
    return decodeUtf8(this.bytes, start, start + n);
  }
}

function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  // Short ASCII (request ids) is the common case; TextDecoder has a fixed per-call cost.
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  try {
    return utf8.decode(bytes.subarray(start, end));
  } catch {
    throw new ReadFailure('bad-field', 'invalid UTF-8 in str');
  }
}
