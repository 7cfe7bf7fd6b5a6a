/**
 * The value of `server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]`.
 * IPv6 hosts are written in brackets: `[::1]:2888:3888`. Parsing returns a reason string on failure
 * so the caller can attach the line number.
 */
import type { ServerRole, ServerSpec } from './types.js';

export type ServerAddress = Omit<ServerSpec, 'id' | 'adminPort'>;

export const SERVER_FORMAT = 'host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]';

const HOSTNAME = /^[A-Za-z0-9._-]+$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

export function parsePort(s: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Splits `host:rest` where host may be `[v6]`; returns [host, rest-after-colon] or a reason. */
function splitHost(s: string): [string, string] | string {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    const h = s.slice(1, end);
    if (end < 0 || !IPV6.test(h)) return `bad IPv6 address in '${s}' (write it as [addr])`;
    if (s[end + 1] !== ':') return `expected ':' after '[${h}]'`;
    return [h, s.slice(end + 2)];
  }
  const colon = s.indexOf(':');
  const h = (colon < 0 ? s : s.slice(0, colon)).trim();
  if (!HOSTNAME.test(h)) return `bad host '${h}' (a host name or IPv4 address; IPv6 goes in brackets)`;
  return [h, colon < 0 ? '' : s.slice(colon + 1)];
}

export function parseServerAddress(value: string): ServerAddress | string {
  const semi = value.split(';');
  if (semi.length > 2) return `more than one ';' (expected ${SERVER_FORMAT})`;
  if (value.includes('|')) return `multiple addresses per server ('|') are not supported (expected ${SERVER_FORMAT})`;
  const head = splitHost(semi[0]!.trim());
  if (typeof head === 'string') return head;
  const [host, rest] = head;
  const parts = rest.split(':');
  if (parts.length < 2 || parts.length > 3) return `expected ${SERVER_FORMAT}`;
  const quorumPort = parsePort(parts[0]!.trim());
  const electionPort = parsePort(parts[1]!.trim());
  if (quorumPort === undefined) return `bad quorum port '${parts[0]}' (expected 1-65535)`;
  if (electionPort === undefined) return `bad election port '${parts[1]}' (expected 1-65535)`;
  if (quorumPort === electionPort) return `quorum and election ports are both ${quorumPort} (they must differ)`;
  let role: ServerRole = 'participant';
  if (parts.length === 3) {
    const r = parts[2]!.trim().toLowerCase();
    if (r !== 'participant' && r !== 'observer') return `bad role '${parts[2]}' (expected participant or observer)`;
    role = r;
  }
  const addr: ServerAddress = { host, quorumPort, electionPort, role };
  if (semi.length === 2) {
    const client = semi[1]!.trim();
    let portText = client;
    if (client.startsWith('[') || client.includes(':')) {
      const split = splitHost(client);
      if (typeof split === 'string') return split;
      addr.clientHost = split[0];
      portText = split[1];
    }
    const clientPort = parsePort(portText);
    if (clientPort === undefined) return `bad client port '${portText}' (expected 1-65535 after ';')`;
    addr.clientPort = clientPort;
  }
  return addr;
}

function formatHost(h: string): string {
  return h.includes(':') ? `[${h}]` : h;
}

export function formatServerAddress(s: ServerAddress): string {
  let out = `${formatHost(s.host)}:${s.quorumPort}:${s.electionPort}:${s.role}`;
  if (s.clientPort !== undefined) out += `;${s.clientHost === undefined ? '' : `${formatHost(s.clientHost)}:`}${s.clientPort}`;
  return out;
}
