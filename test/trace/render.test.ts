/** The trace viewer on small hand-made traces: lanes, arrows, drops, faults, the violation, escaping, windows. */
import { describe, expect, it } from 'vitest';
import { encodePeerMessage } from '../../src/codec/peer-codec.js';
import type { PeerMessage } from '../../src/protocol/messages.js';
import { collectTrace } from '../../src/trace/collect.js';
import { summarizeMessage } from '../../src/trace/records.js';
import { escapeHtml, renderTraceHtml } from '../../src/trace/render.js';

let step = 0;
function line(t: number, rec: Record<string, unknown>): string {
  return JSON.stringify({ t, step: step++, ...rec });
}
/** A wire message as the simulator's trace shows it: a Buffer's JSON form. */
function wire(m: PeerMessage): unknown {
  return JSON.parse(JSON.stringify(encodePeerMessage(m)));
}

function small(): string[] {
  step = 0;
  return [
    line(0, { kind: 'net.connect', from: 1, to: 2, conn: 1 }),
    line(0, { kind: 'role', sid: 1, role: 'looking', phase: 'election', leader: null, epoch: 0 }),
    line(0, { kind: 'role', sid: 2, role: 'looking', phase: 'election', leader: null, epoch: 0 }),
    line(0, { kind: 'role', sid: 3, role: 'looking', phase: 'election', leader: null, epoch: 0 }),
    line(1, { kind: 'net.deliver', from: 2, to: 1, conn: 1, ch: 'E', msg: wire({ type: 'NOTIFICATION', leader: 2, zxid: 0n, peerEpoch: 0, round: 1, state: 'LOOKING' }) }),
    line(1.5, { kind: 'event', sid: 1, actor: 'peer-1', event: { type: 'NOTIFICATION' } }),
    line(2, { kind: 'role', sid: 2, role: 'leading', phase: 'discovery', leader: 2, epoch: 0 }),
    line(3, { kind: 'established', sid: 2, epoch: 1, zxid: '0x0' }),
    line(4, {
      kind: 'net.deliver', from: 2, to: 3, conn: 2, ch: 'Q',
      msg: wire({ type: 'PROPOSAL', txns: [{ zxid: 0x100000001n, data: new Uint8Array([1]) }, { zxid: 0x100000003n, data: new Uint8Array([2]) }] }),
    }),
    line(5, { kind: 'net.drop', from: 2, to: 1, conn: 3, ch: 'Q', msg: wire({ type: 'COMMIT', zxid: 0x100000003n }) }),
    line(6, { kind: 'client.ack', client: 1, id: 'c1-1', sid: 2, zxid: '0x100000003', result: { ok: true } }),
    line(7, { kind: 'fault', fault: 'partition', groups: [[2], [1, 3]], silent: false }),
    line(8, { kind: 'fault', fault: 'crash', sid: 2 }),
    line(9, { kind: 'state', sid: 1, actor: 'peer-1', value: { following: 'synced' } }),
    line(9.5, { kind: 'state', sid: 1, actor: 'peer-1', value: { following: 'synced' } }),
    line(10, { kind: 'violation', invariant: 'PrimaryOrder', detail: 'server 3 delivered <0x1> & "more"\nsecond line', step: 17, time: 10 }),
    line(11, { kind: 'fault', fault: 'healAll' }),
  ];
}

describe('summarizeMessage', () => {
  it('decodes wire bytes and labels key fields', () => {
    expect(summarizeMessage(wire({ type: 'COMMIT', zxid: 0x200000005n })).label).toBe('COMMIT 0x200000005');
    expect(summarizeMessage(wire({ type: 'NOTIFICATION', leader: 3, zxid: 0x100000002n, peerEpoch: 1, round: 4, state: 'LOOKING' })).label).toBe(
      'NOTIFICATION vote 3@0x100000002 e1 r4 LOOKING',
    );
    expect(summarizeMessage(wire({ type: 'NEWLEADER', epoch: 2, zxid: 0x100000009n })).label).toBe('NEWLEADER e2 0x100000009');
  });
  it('labels message objects (--no-wire), bare sizes and garbage', () => {
    expect(summarizeMessage({ type: 'PROPOSAL', txns: [{ zxid: '0x100000001', data: '<3B>' }] }).label).toBe('PROPOSAL 0x100000001');
    expect(summarizeMessage('<12B>').label).toBe('bytes <12B>');
    expect(summarizeMessage({ type: 'Buffer', data: [255] }).label).toMatch(/^undecodable 1B/);
  });
});

describe('renderTraceHtml', () => {
  const html = renderTraceHtml(small(), { title: 'small <trace>' });

  it('is a self-contained page: no external assets', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<link\b/);
    expect(html).toContain('<title>small &lt;trace&gt;</title>');
  });

  it('draws one lane per server', () => {
    for (const s of [1, 2, 3]) expect(html).toContain(`>server ${s}</text>`);
    expect(html).not.toContain('>server 4</text>');
    expect(html).toMatch(/<line class="lane" data-sid="2"[^>]*stroke="#2e7d32"/); // leading stretch
    expect(html).toMatch(/<line class="lane" data-sid="2"[^>]*stroke-dasharray/); // down after the crash
  });

  it('draws delivered messages as solid arrows and drops as dashed red ones, labelled', () => {
    const msgs = html.match(/<g class="ev msg"[^]*?<\/g>/g)!;
    expect(msgs).toHaveLength(2);
    expect(msgs[0]).toContain('NOTIFICATION vote 2@0x0 e0 r1 LOOKING');
    expect(msgs[0]).toContain('marker-end="url(#arrE)"');
    expect(msgs[1]).toContain('PROPOSAL 0x100000001..0x100000003 (2)');
    expect(msgs[1]).not.toContain('stroke-dasharray');
    const drop = html.match(/<g class="ev msg drop"[^]*?<\/g>/)![0];
    expect(drop).toContain('DROPPED COMMIT 0x100000003');
    expect(drop).toContain('stroke="#d32f2f"');
    expect(drop).toContain('stroke-dasharray');
  });

  it('marks roles, established epochs, state changes (once), client acks and faults', () => {
    expect(html).toContain('leading e0 (discovery)');
    expect(html).toContain('established e1 at 0x0');
    expect(html.match(/<g class="ev state"/g)).toHaveLength(1);
    expect(html).toContain('peer-1: following.synced');
    expect(html).toContain('c1 ack 0x100000003');
    expect(html).toContain('⚡ partition {2} | {1,3}');
    expect(html).toContain('⚡ crash 2');
    expect(html).not.toContain('data-kind="event"');
    expect(html).not.toContain('data-kind="net.connect"');
  });

  it('highlights the violation, with invariant and detail, and scrolls to it; ignores what follows', () => {
    expect(html).toContain('Invariant violated: PrimaryOrder</b> at step 17');
    expect(html).toMatch(/<g class="ev violation" id="violation" data-kind="violation" data-step="17"/);
    expect(html).toContain('VIOLATION PrimaryOrder: server 3 delivered &lt;0x1&gt; &amp; &quot;more&quot;');
    expect(html).toContain('second line');
    expect(html).toContain("scrollIntoView");
    expect(html).not.toContain('healAll');
  });

  it('escapes strings from the trace', () => {
    step = 0;
    const evil = renderTraceHtml([
      line(0, { kind: 'state', sid: 1, actor: '<script>alert(1)</script>', value: 'a"b' }),
      line(1, { kind: 'fault', fault: '<img src=x onerror=alert(1)>' }),
      line(2, { kind: 'violation', invariant: '</title><script>x()</script>', detail: "it's <b>bad</b>", step: 2, time: 2 }),
      'not json <at all>',
    ]);
    expect(evil).not.toContain('<script>alert');
    expect(evil).not.toContain('<img');
    expect(evil).not.toContain('<script>x()');
    expect(evil).not.toContain('<b>bad</b>');
    expect(evil).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(evil).toContain('it&#39;s &lt;b&gt;bad&lt;/b&gt;');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });
});

describe('windows', () => {
  function many(n: number): string[] {
    step = 0;
    const out = [line(0, { kind: 'role', sid: 1, role: 'following', phase: 'broadcast', leader: 2, epoch: 1 })];
    for (let i = 1; i <= n; i++) out.push(line(i, { kind: 'net.deliver', from: 2, to: 1, conn: 1, ch: 'Q', msg: wire({ type: 'PING', zxid: BigInt(i) }) }));
    return out;
  }

  it('keeps the last N events by default, with the lanes as they were at the window start', () => {
    const m = collectTrace(many(50), { maxEvents: 10 });
    expect(m.events).toHaveLength(10);
    expect(m.events[0]!.t).toBe(41);
    expect(m.events[9]!.t).toBe(50);
    expect(m.initial.get(1)?.role).toBe('following');
    expect(m.windowNote).toContain('Showing the last 10 of 51 events before the end of the trace');
    const html = renderTraceHtml(many(50), { maxEvents: 10 });
    expect(html).toContain('following of 2 e1 (broadcast)');
    expect(html).toContain('No violation in this trace.');
  });

  it('windows by virtual time with --from/--to', () => {
    const m = collectTrace(many(50), { from: 10, to: 19.5 });
    expect(m.events.map((e) => e.t)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(m.initial.get(1)?.role).toBe('following');
    expect(m.windowNote).toContain('Window t in [10, 19.5] ms: showing all 10 events');
    const capped = collectTrace(many(50), { from: 10, maxEvents: 3 });
    expect(capped.events.map((e) => e.t)).toEqual([10, 11, 12]);
    expect(capped.windowNote).toContain('showing the first 3 of 41 events');
  });

  it('says when the violation is outside the window', () => {
    const html = renderTraceHtml(small(), { to: 3 });
    expect(html).toContain('Invariant violated: PrimaryOrder');
    expect(html).toContain('It is outside the window shown.');
    expect(html).not.toContain('id="violation"');
  });
});
