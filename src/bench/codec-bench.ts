/**
 * Micro benchmark of the peer codec's hot path (not a test): PROPOSAL batches of 100 txns x 100 B,
 * plus msgpackr on the same wire shape for reference. Run after a build:
 *   node dist/src/bench/codec-bench.js
 */
import { Packr, Unpackr } from 'msgpackr';
import type { PeerMessage, Txn } from '../protocol/messages.js';
import { makeZxid } from '../zxid.js';
import { decodePeerMessage, encodePeerFrame, encodePeerMessage } from '../codec/peer-codec.js';
import { FrameDecoder } from '../codec/frame.js';

function time(label: string, iterations: number, perOp: number, unit: string, fn: () => void): void {
  for (let i = 0; i < Math.min(iterations, 2000); i++) fn(); // warm up
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  console.log(`${label.padEnd(44)} ${(best / 1000).toFixed(2).padStart(8)} us/op  ${(best / perOp).toFixed(1).padStart(7)} ns/${unit}`);
}

const TXNS = 100;
const txns: Txn[] = [];
for (let i = 0; i < TXNS; i++) txns.push({ zxid: makeZxid(7, i + 1), data: new Uint8Array(100).fill(i) });
const proposal: PeerMessage = { type: 'PROPOSAL', txns };
const payload = encodePeerMessage(proposal);
const frame = encodePeerFrame(proposal);
let sink = 0;

console.log(`PROPOSAL ${TXNS} x 100 B: payload ${payload.length} B`);
time('encodePeerFrame(PROPOSAL)', 20000, TXNS, 'txn', () => {
  sink += encodePeerFrame(proposal).length;
});
time('decodePeerMessage(PROPOSAL)', 20000, TXNS, 'txn', () => {
  const r = decodePeerMessage(payload);
  if (r.ok) sink += r.msg.type.length;
});
time('FrameDecoder.push + decode (PROPOSAL)', 20000, TXNS, 'txn', () => {
  const { frames } = new FrameDecoder().push(frame);
  const r = decodePeerMessage(frames[0]);
  if (r.ok) sink += r.msg.type.length;
});

const ack: PeerMessage = { type: 'ACK', zxid: makeZxid(7, 42) };
const ackPayload = encodePeerMessage(ack);
time('encodePeerFrame(ACK)', 200000, 1, 'msg', () => {
  sink += encodePeerFrame(ack).length;
});
time('decodePeerMessage(ACK)', 200000, 1, 'msg', () => {
  const r = decodePeerMessage(ackPayload);
  if (r.ok) sink += 1;
});

// Reference: msgpackr on the same flat array, without any validation.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint' });
const flat: unknown[] = [];
for (const t of txns) flat.push(t.zxid, t.data);
const wire = [12, flat];
const packed = packr.pack(wire);
time('msgpackr pack (reference, no validation)', 20000, TXNS, 'txn', () => {
  sink += packr.pack(wire).length;
});
time('msgpackr unpack (reference, no validation)', 20000, TXNS, 'txn', () => {
  sink += (unpackr.unpack(packed) as unknown[]).length;
});
if (sink === 0) console.log('unreachable');
