import { describe, expect, it } from 'vitest';
import { formatServerAddress, parseServerAddress } from '../../src/config/index.js';

describe('parseServerAddress', () => {
  it('parses every form ZooKeeper accepts (single address)', () => {
    expect(parseServerAddress('h:1:2')).toEqual({ host: 'h', quorumPort: 1, electionPort: 2, role: 'participant' });
    expect(parseServerAddress('h:1:2:OBSERVER')).toEqual({ host: 'h', quorumPort: 1, electionPort: 2, role: 'observer' });
    expect(parseServerAddress('h:1:2;3')).toEqual({ host: 'h', quorumPort: 1, electionPort: 2, role: 'participant', clientPort: 3 });
    expect(parseServerAddress('h:1:2:participant;0.0.0.0:3')).toMatchObject({ clientHost: '0.0.0.0', clientPort: 3 });
    expect(parseServerAddress('[2001:db8::1]:1:2;[::]:3')).toMatchObject({ host: '2001:db8::1', clientHost: '::', clientPort: 3 });
    expect(parseServerAddress(' h : 1 : 2 ')).toMatchObject({ quorumPort: 1, electionPort: 2 });
  });

  it('returns a reason for malformed values', () => {
    expect(parseServerAddress('')).toMatch(/bad host ''/);
    expect(parseServerAddress('h')).toMatch(/expected host:quorumPort:electionPort/);
    expect(parseServerAddress('h:1:2:3:4')).toMatch(/expected host:quorumPort:electionPort/);
    expect(parseServerAddress('h:1:2;3;4')).toMatch(/more than one ';'/);
    expect(parseServerAddress('[::1:1:2')).toMatch(/bad IPv6 address/);
    expect(parseServerAddress('[::1]1:2')).toMatch(/expected ':' after/);
    expect(parseServerAddress('h:1:2;')).toMatch(/bad client port ''/);
    expect(parseServerAddress('h:01x:2')).toMatch(/bad quorum port/);
  });

  it('format and parse are inverse', () => {
    for (const v of ['h:1:2:participant', 'h:1:2:observer;3', '[::1]:1:2:participant;[::1]:3', 'a.b:65535:1:participant;0.0.0.0:9']) {
      const parsed = parseServerAddress(v);
      if (typeof parsed === 'string') throw new Error(parsed);
      expect(formatServerAddress(parsed)).toBe(v);
    }
  });
});
