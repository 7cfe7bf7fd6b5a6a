import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32, InvariantChecker, InvariantViolation, type InvariantName } from '../../src/check/invariants.js';
import { makeZxid, type Zxid } from '../../src/zxid.js';

const tx = (epoch: number, counter: number, payload = counter) => ({ zxid: makeZxid(epoch, counter), data: new Uint8Array([epoch, payload]) });

/** Expects `fn` to throw a violation of `name`, and the checker to have recorded it. */
function expectViolation(c: InvariantChecker, name: InvariantName, fn: () => void): InvariantViolation {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InvariantViolation);
  const v = caught as InvariantViolation;
  expect(v.invariant).toBe(name);
  expect(c.violations.at(-1)).toBe(v);
  return v;
}

/** Leader 1 of epoch 1 commits txns 1..n on servers 1, 2, 3. */
function epochOne(c: InvariantChecker, n: number) {
  for (const s of [1, 2, 3]) c.restored(s, 0n);
  c.established(1, 1);
  for (let i = 1; i <= n; i++) {
    c.proposed(1, 1, tx(1, i));
    for (const s of [1, 2, 3]) c.delivered(s, tx(1, i));
  }
}

describe('InvariantChecker: correct histories', () => {
  it('accepts a history with a leader change, a lagging server, a restart and acks', () => {
    const c = new InvariantChecker();
    epochOne(c, 3);
    c.clientAcked('r3', makeZxid(1, 3));
    c.proposed(1, 1, tx(1, 4)); // proposed, never committed: skipped by the next epoch
    c.delivered(1, tx(1, 4)); // ...except that leader 1 delivered it: then it is committed
    c.established(2, 2);
    c.delivered(2, tx(1, 4)); // leader 2 delivers everything older before broadcasting
    c.proposed(2, 2, tx(2, 1));
    c.clientAcked('r5', makeZxid(2, 1)); // acked before any server reported delivery
    c.delivered(2, tx(2, 1));
    c.restored(3, makeZxid(1, 2)); // server 3 restarted from an older snapshot: replays
    for (const t of [tx(1, 3), tx(1, 4), tx(2, 1)]) c.delivered(3, t);
    c.stateDigest(2, makeZxid(2, 1), 'abc');
    c.stateDigest(3, makeZxid(2, 1), 'abc');
    c.delivered(1, tx(2, 1));
    c.finalCheck([1, 2, 3], { converged: true });
    expect(c.violations).toEqual([]);
    expect(c.committedCount()).toBe(5);
    expect(c.committedZxid()).toBe(makeZxid(2, 1));
    expect(c.positionOf(3)).toBe(makeZxid(2, 1));
  });

  it('accepts random correct histories: servers deliver prefixes of one sequence in any interleaving', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()), { maxLength: 200 }), fc.integer({ min: 1, max: 30 }), (steps, n) => {
        const c = new InvariantChecker();
        const seq = Array.from({ length: n }, (_, i) => tx(1 + Math.floor(i / 10), (i % 10) + 1));
        for (const s of [1, 2, 3]) c.restored(s, 0n);
        const pos = new Map([[1, 0], [2, 0], [3, 0]]);
        let proposed = 0;
        const propose = (upTo: number) => {
          for (; proposed < upTo; proposed++) {
            const t = seq[proposed]!;
            const epoch = Number(t.zxid >> 32n);
            if (t.zxid === makeZxid(epoch, 1)) {
              c.established(1, epoch);
              // a new leader first delivers everything older
              for (let q = pos.get(1)!; q < proposed; q++) c.delivered(1, seq[q]!);
              pos.set(1, Math.max(pos.get(1)!, proposed));
            }
            c.proposed(1, epoch, t);
          }
        };
        for (const [s, restart] of steps) {
          const p = pos.get(s)!;
          if (restart && p > 0) {
            const back = Math.floor(p / 2);
            c.restored(s, back === 0 ? 0n : seq[back - 1]!.zxid);
            pos.set(s, back);
          } else if (p < n) {
            propose(p + 1);
            c.delivered(s, seq[p]!);
            pos.set(s, p + 1);
          }
        }
        expect(c.violations).toEqual([]);
      }),
    );
  });
});

describe('InvariantChecker: each invariant breaks', () => {
  it('Leadership: two leaders established in one epoch', () => {
    const c = new InvariantChecker();
    c.established(1, 1);
    expectViolation(c, 'Leadership', () => c.established(2, 1));
    expectViolation(c, 'Leadership', () => c.established(1, 1));
  });

  it('ProposalEpoch: a zxid of another epoch, or a proposer that is not the established leader', () => {
    const c = new InvariantChecker();
    c.established(1, 2);
    expectViolation(c, 'ProposalEpoch', () => c.proposed(1, 2, tx(1, 1)));
    expectViolation(c, 'ProposalEpoch', () => c.proposed(2, 2, tx(2, 1)));
    expectViolation(c, 'ProposalEpoch', () => c.proposed(1, 3, tx(3, 1)));
  });

  it('LocalPrimaryOrder: a leader proposes a smaller zxid', () => {
    const c = new InvariantChecker();
    c.established(1, 1);
    c.proposed(1, 1, tx(1, 2));
    expectViolation(c, 'LocalPrimaryOrder', () => c.proposed(1, 1, tx(1, 1)));
    expectViolation(c, 'LocalPrimaryOrder', () => c.proposed(1, 1, tx(1, 2)));
  });

  it('LocalPrimaryOrder: also across two proposers of one epoch (when leadership is not observed)', () => {
    const c = new InvariantChecker({ observeProposals: false });
    c.proposed(1, 1, tx(1, 5, 10));
    expectViolation(c, 'LocalPrimaryOrder', () => c.proposed(2, 1, tx(1, 5, 11)));
  });

  it('ProposalUniqueness: a committed zxid proposed again with different data', () => {
    // Reachable when proposals are not all observed: the epoch's order state does not know 1:1.
    const v = new InvariantChecker({ observeProposals: false });
    v.restored(1, 0n);
    v.delivered(1, tx(1, 1, 10));
    expectViolation(v, 'ProposalUniqueness', () => v.proposed(9, 1, tx(1, 1, 11)));
  });

  it('PrimaryIntegrity: a leader broadcasts before delivering older committed txns', () => {
    const c = new InvariantChecker();
    epochOne(c, 2);
    c.established(2, 2);
    c.restored(2, makeZxid(1, 1)); // leader 2 restarted behind
    expectViolation(c, 'PrimaryIntegrity', () => c.proposed(2, 2, tx(2, 1)));
  });

  it('PrimaryIntegrity: an older-epoch txn committed after a newer leader began broadcasting', () => {
    const c = new InvariantChecker();
    epochOne(c, 1);
    c.proposed(1, 1, tx(1, 2)); // pending when leader 1 is deposed
    c.established(2, 2);
    c.proposed(2, 2, tx(2, 1));
    expectViolation(c, 'PrimaryIntegrity', () => c.delivered(3, tx(1, 2)));
  });

  it('Integrity: a delivered txn nobody proposed, or with other data', () => {
    const c = new InvariantChecker();
    epochOne(c, 1);
    expectViolation(c, 'Integrity', () => c.delivered(1, tx(1, 2)));
    c.proposed(1, 1, tx(1, 2, 20));
    expectViolation(c, 'Integrity', () => c.delivered(1, tx(1, 2, 21)));
  });

  it('PrefixConsistency: a server skips, reorders or disagrees', () => {
    const c = new InvariantChecker();
    for (const s of [1, 2]) c.restored(s, 0n);
    c.established(1, 1);
    for (let i = 1; i <= 3; i++) c.proposed(1, 1, tx(1, i));
    for (let i = 1; i <= 3; i++) c.delivered(1, tx(1, i));
    expectViolation(c, 'PrefixConsistency', () => c.delivered(2, tx(1, 2))); // skipped 1
    c.delivered(2, tx(1, 1));
    expectViolation(c, 'PrefixConsistency', () => c.delivered(2, tx(1, 2, 99))); // other data (Agreement)
    c.delivered(2, tx(1, 2));
    c.delivered(2, tx(1, 3));
    expectViolation(c, 'PrefixConsistency', () => c.delivered(2, tx(1, 3))); // twice (TotalOrder)
    expectViolation(c, 'PrefixConsistency', () => c.delivered(2, tx(1, 1)));
  });

  it('PrefixConsistency: a server diverges from a longer sequence it is replaying', () => {
    const c = new InvariantChecker();
    epochOne(c, 3);
    c.restored(3, makeZxid(1, 1));
    c.established(2, 2);
    expectViolation(c, 'PrefixConsistency', () => c.delivered(3, tx(1, 3))); // 1:2 expected
  });

  it('Restore: restarting at a zxid that was never committed', () => {
    const c = new InvariantChecker();
    epochOne(c, 2);
    expectViolation(c, 'Restore', () => c.restored(3, makeZxid(1, 3)));
    expectViolation(c, 'Restore', () => c.restored(3, makeZxid(0, 7)));
  });

  it('AckedWriteLost: acked but skipped, acked but never committed, or a live server behind an ack', () => {
    const c = new InvariantChecker();
    epochOne(c, 2);
    c.proposed(1, 1, tx(1, 3));
    c.clientAcked('r1', makeZxid(1, 3)); // not committed yet: fine for now
    c.established(2, 2);
    c.proposed(2, 2, tx(2, 1));
    c.delivered(2, tx(2, 1));
    expectViolation(c, 'AckedWriteLost', () => c.clientAcked('r2', makeZxid(1, 3))); // skipped by epoch 2
    const f = new InvariantChecker({ mode: 'record' });
    epochOne(f, 2);
    f.proposed(1, 1, tx(1, 3));
    f.clientAcked('r3', makeZxid(1, 3));
    f.clientAcked('r4', makeZxid(1, 2));
    f.restored(3, makeZxid(1, 1)); // restarted and did not catch up
    f.finalCheck([1, 2, 3]);
    expect(f.violations.map((v) => [v.invariant, v.sid])).toEqual([
      ['AckedWriteLost', undefined],
      ['AckedWriteLost', 3],
    ]);
  });

  it('finalCheck converged: a live server short of the committed sequence', () => {
    const c = new InvariantChecker();
    epochOne(c, 2);
    c.restored(3, makeZxid(1, 1));
    c.finalCheck([1, 2]);
    expectViolation(c, 'PrefixConsistency', () => c.finalCheck([1, 3], { converged: true }));
  });

  it('StateAgreement: two servers at one zxid with different state', () => {
    const c = new InvariantChecker({ digestWindow: 2 });
    c.stateDigest(1, 5n, 'x');
    c.stateDigest(2, 5n, 'x');
    expectViolation(c, 'StateAgreement', () => c.stateDigest(3, 5n, 'y'));
    c.stateDigest(1, 6n, 'a');
    c.stateDigest(1, 7n, 'b'); // window of 2: 5n is forgotten
    c.stateDigest(1, 5n, 'z');
    expect(c.violations).toHaveLength(1);
  });

  it("'record' mode collects instead of throwing", () => {
    const c = new InvariantChecker({ mode: 'record' });
    c.established(1, 1);
    c.established(2, 1);
    c.delivered(1, tx(1, 1));
    expect(c.violations.map((v) => v.invariant)).toEqual(['Leadership', 'Integrity']);
    expect(c.violations[0]!.message).toMatch(/^Leadership violated: epoch 1/);
  });
});

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });
});

describe('InvariantChecker: memory', () => {
  it('keeps 200k committed txns and resumes a restarted server in the middle of them', () => {
    const c = new InvariantChecker();
    c.restored(1, 0n);
    c.established(1, 1);
    for (let i = 1; i <= 200_000; i++) {
      const t = tx(1, i, i & 0xff);
      c.proposed(1, 1, t);
      c.delivered(1, t);
    }
    expect(c.committedCount()).toBe(200_000);
    const zx: Zxid = makeZxid(1, 100_000);
    c.restored(2, zx);
    expect(c.positionOf(2)).toBe(zx);
  });
});
