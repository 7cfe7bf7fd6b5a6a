/**
 * The admin HTTP port of a server (or of `zab ensemble`, which has no server of its own):
 *   GET /                  the inspector page (every server of the ensemble side by side)
 *   GET /ensemble          the servers and their admin URLs (what the page connects to)
 *   GET /statecharts/<machine>.svg   a statechart diagram
 *   GET /status            the same JSON as `zab status` (server only)
 *   GET /metrics           Prometheus text (server only)
 *   GET /events            Server-Sent Events: `hello` (status, actors, recent transitions), then
 *                          `insp` records as they happen and `status` twice a second (server only)
 * Everything is read-only and served with `Access-Control-Allow-Origin: *`, so one page can watch
 * every server's port. No external resources: the page works offline.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { ServerStatus } from '../server/client-protocol.js';
import type { InspectionHub } from './inspection-hub.js';
import type { ServerMetrics } from './metrics.js';
import { inspectorPage } from './page.js';
import { statechartSvgs } from './statechart-svgs.js';

export interface EnsembleMember {
  id: number;
  /** `http://host:port` of its admin port, or null when it has none */
  admin: string | null;
  /** its client address, for display */
  client: string | null;
}

/** What a server contributes; absent for the ensemble's own page. */
export interface AdminSource {
  serverId: number;
  status(): ServerStatus;
  hub: InspectionHub;
  metrics: ServerMetrics;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  /** the servers the page shows (read per request: a server knows its own admin port only once bound) */
  members: () => readonly EnsembleMember[];
  source?: AdminSource;
  logger: Logger;
  title?: string;
  /** how often `status` events go out on /events */
  statusEveryMs?: number;
}

export class AdminServer {
  private http: http.Server | null = null;
  private readonly streams = new Set<{ end(): void }>();

  constructor(private readonly o: AdminServerOptions) {}

  async start(): Promise<AddressInfo> {
    const srv = http.createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.o.logger.warn({ err, url: req.url }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.http = srv;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `admin port ${this.o.host}:${this.o.port} is in use: stop what holds it or choose another (adminPort.N in zoo.cfg)`
              : `cannot listen on admin port ${this.o.host}:${this.o.port}: ${err.message}`,
          ),
        );
      };
      srv.once('error', onError);
      srv.listen(this.o.port, this.o.host, () => {
        srv.off('error', onError);
        resolve();
      });
    });
    srv.on('error', (err) => this.o.logger.warn({ err }, 'admin port error'));
    return srv.address() as AddressInfo;
  }

  address(): AddressInfo | null {
    const a = this.http?.address();
    return a && typeof a === 'object' ? a : null;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    const srv = this.http;
    this.http = null;
    if (!srv) return;
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const cors = { 'access-control-allow-origin': '*', 'cache-control': 'no-store' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...cors, allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('only GET\n');
      return;
    }
    const src = this.o.source;
    const json = (body: unknown): void => {
      res.writeHead(200, { ...cors, 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { ...cors, 'content-type': 'text/html; charset=utf-8' });
      res.end(inspectorPage(this.o.title ?? 'zab inspector'));
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (path === '/ensemble') {
      json({ self: src?.serverId ?? null, servers: this.o.members() });
      return;
    }
    const svg = /^\/statecharts\/([A-Za-z]+)\.svg$/.exec(path);
    if (svg) {
      const body = (await statechartSvgs()).get(svg[1]!);
      if (!body) return notFound(res, cors, `no statechart '${svg[1]}'`);
      res.writeHead(200, { ...cors, 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' });
      res.end(body);
      return;
    }
    if (!src) return notFound(res, cors, `${path}: this is the ensemble's page; each server serves it on its own admin port`);
    if (path === '/status') return json(src.status());
    if (path === '/metrics') {
      const text = await src.metrics.text();
      res.writeHead(200, { ...cors, 'content-type': src.metrics.contentType });
      res.end(text);
      return;
    }
    if (path === '/events') return this.events(req, res, src, cors);
    notFound(res, cors, `no such page: ${path} (try /, /status, /metrics, /events)`);
  }

  private events(req: http.IncomingMessage, res: http.ServerResponse, src: AdminSource, cors: Record<string, string>): void {
    res.writeHead(200, { ...cors, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 500\n\n');
    send('hello', { serverId: src.serverId, status: src.status(), actors: src.hub.views(), recent: src.hub.recent() });
    // Records of one event-loop turn go out in one write.
    let pending: string[] = [];
    let flushQueued = false;
    const sub: Subscription = src.hub.records$.subscribe((r) => {
      pending.push(`event: insp\ndata: ${JSON.stringify(r)}\n\n`);
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(() => {
          flushQueued = false;
          if (pending.length > 0) res.write(pending.join(''));
          pending = [];
        });
      }
    });
    const timer = setInterval(() => send('status', src.status()), this.o.statusEveryMs ?? 500);
    const release = (): void => {
      clearInterval(timer);
      sub.unsubscribe();
    };
    const stream = {
      end: (): void => {
        release();
        res.end();
      },
    };
    this.streams.add(stream);
    req.on('close', () => {
      release();
      this.streams.delete(stream);
    });
  }
}

function notFound(res: http.ServerResponse, cors: Record<string, string>, why: string): void {
  res.writeHead(404, { ...cors, 'content-type': 'text/plain' });
  res.end(why + '\n');
}
