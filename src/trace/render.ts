/**
 * A simulator trace as a self-contained HTML message-sequence chart: one vertical lane per server,
 * one row per event in trace order (virtual time and step in the left column), messages as arrows
 * from sender to receiver at their delivery time (delivered: solid; dropped: dashed red), roles,
 * state changes and established epochs on the lanes, faults as bands across the chart, client acks
 * as small dots, and the violation as a red band the page scrolls to. Pure: model in, HTML out;
 * no external assets, no network.
 */
import { applyStatus, collectTrace, type ChartModel, type LaneStatus, type WindowOptions } from './collect.js';
import { stateValueText, summarizeMessage, type TraceRecord } from './records.js';

export interface RenderOptions {
  /** page title (e.g. the trace file's name) */
  title?: string;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = escapeHtml;

const LEFT = 150;
const LANE_W = 190;
const TOP = 70;
const ROW_H = 22;

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function roleColor(st: LaneStatus): string {
  if (st.down) return '#bbb';
  switch (st.role) {
    case 'leading':
      return '#2e7d32';
    case 'following':
      return '#1565c0';
    case 'observing':
      return '#6a1b9a';
    case 'looking':
      return '#ef6c00';
    default:
      return '#777';
  }
}

function roleText(st: LaneStatus): string {
  if (st.down) return 'down';
  const epoch = st.epoch !== null ? ` e${st.epoch}` : '';
  const leader = st.role === 'following' || st.role === 'observing' ? ` of ${String(st.leader)}` : '';
  return `${st.role}${leader}${epoch}${st.phase ? ` (${st.phase})` : ''}`;
}

function faultText(r: TraceRecord): string {
  const f = String(r.fault);
  const groups = Array.isArray(r.groups) ? ` ${(r.groups as unknown[]).map((g) => (Array.isArray(g) ? `{${g.join(',')}}` : String(g))).join(' | ')}` : '';
  switch (f) {
    case 'crash':
    case 'restart':
      return `${f} ${String(r.sid)}`;
    case 'cut':
      return `cut link ${String(r.a)}–${String(r.b)}`;
    case 'partition':
    case 'isolateLeader':
      return `${f}${groups}${r.silent === true ? ' (silent)' : ''}`;
    case 'staleLeaderReturns':
      return `staleLeaderReturns${groups}`;
    case 'crashAfterSend':
      return `crashAfterSend ${String(r.sid)} after ${String(r.type)}`;
    case 'slowDisk':
      return `slowDisk ${String(r.sid)} ${r.on === false ? 'off' : 'on'}`;
    case 'slowDisks':
      return `slowDisks ${String(r.ms)} ms`;
    case 'skew':
      return `clock skew ${String(r.sid)} ×${String(r.rate)}`;
    default:
      return f;
  }
}

function json(r: TraceRecord): string {
  return JSON.stringify(r);
}

const STYLE = `
body{font:13px system-ui,sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#fafafa;border-bottom:1px solid #ccc;padding:6px 12px;z-index:2}
header h1{font-size:15px;margin:0 0 4px}
header p{margin:2px 0}
.vbox{background:#ffebee;border:1px solid #c62828;padding:6px 10px;margin:6px 0}
.vbox pre{white-space:pre-wrap;margin:4px 0 0;max-height:9em;overflow:auto}
.legend span{margin-right:14px}
svg text{font:11px ui-monospace,monospace}
svg .small{font-size:9px;fill:#555}
svg .lab{font-size:10px}
svg .time{fill:#666}
svg .lane-name{font:bold 12px system-ui,sans-serif}
svg .fault text{fill:#8d4400;font-weight:bold}
svg .violation text{fill:#b71c1c;font-weight:bold}
svg g.ev:hover>rect.hl{fill:#fff59d;fill-opacity:.5}
`;

/** Renders a collected chart model as an HTML page. */
export function renderChart(model: ChartModel, o: RenderOptions = {}): string {
  const lanes = model.sids;
  const laneX = new Map<number, number>(lanes.map((s, i) => [s, LEFT + i * LANE_W + LANE_W / 2]));
  const width = LEFT + Math.max(1, lanes.length) * LANE_W + 20;
  const rows = model.events.length;
  const height = TOP + rows * ROW_H + 30;
  const x = (sid: unknown): number | undefined => (typeof sid === 'number' ? laneX.get(sid) : undefined);

  const body: string[] = [];
  const laneSegs: string[] = [];
  // Lane segments: one per stretch of unchanged status.
  const status = new Map<number, LaneStatus>();
  for (const s of lanes) status.set(s, { ...model.initial.get(s)! });
  const segStart = new Map<number, number>(lanes.map((s) => [s, TOP - 10]));
  const closeSeg = (sid: number, yEnd: number): void => {
    const st = status.get(sid)!;
    const lx = laneX.get(sid)!;
    const y0 = segStart.get(sid)!;
    const dash = st.down ? ' stroke-dasharray="3 4"' : '';
    const w = st.role === 'leading' && !st.down ? 5 : 3;
    laneSegs.push(
      `<line class="lane" data-sid="${sid}" x1="${lx}" y1="${y0}" x2="${lx}" y2="${yEnd}" stroke="${roleColor(st)}" stroke-width="${w}"${dash}><title>server ${sid}: ${esc(roleText(st))}</title></line>`,
    );
    segStart.set(sid, yEnd);
  };

  model.events.forEach((r, i) => {
    const y = TOP + i * ROW_H + ROW_H / 2;
    const attrs = `data-kind="${esc(r.kind)}" data-step="${r.step}" data-t="${r.t}"`;
    const left = `<text class="time" x="6" y="${y + 4}">${esc(`${r.t.toFixed(3)}`)} #${r.step}</text>`;
    const hl = `<rect class="hl" x="0" y="${y - ROW_H / 2}" width="${width}" height="${ROW_H}" fill="transparent"/>`;
    const tip = `<title>${esc(json(r))}</title>`;
    let inner = '';
    let cls = 'ev';
    let id = '';
    switch (r.kind) {
      case 'net.deliver':
      case 'net.drop': {
        const x1 = x(r.from);
        const x2 = x(r.to);
        if (x1 === undefined || x2 === undefined) break;
        const m = summarizeMessage(r.msg);
        const dropped = r.kind === 'net.drop';
        const color = dropped ? '#d32f2f' : r.ch === 'E' ? '#7b1fa2' : '#263238';
        const dash = dropped ? ' stroke-dasharray="5 4"' : '';
        const marker = dropped ? '' : ` marker-end="url(#${r.ch === 'E' ? 'arrE' : 'arr'})"`;
        const dir = x2 > x1 ? 1 : -1;
        cls += dropped ? ' msg drop' : ' msg';
        inner =
          `<line x1="${x1}" y1="${y - 5}" x2="${x2 - dir * 4}" y2="${y + 5}" stroke="${color}" stroke-width="1.4"${dash}${marker}/>` +
          (dropped ? `<text x="${x2 - 4}" y="${y + 9}" fill="#d32f2f" font-weight="bold">✕</text>` : '') +
          `<text class="lab" x="${(x1 + x2) / 2}" y="${y - 4}" text-anchor="middle" fill="${color}">${esc(clip(`${dropped ? 'DROPPED ' : ''}${m.label}`, Math.max(24, Math.floor((Math.abs(x2 - x1) / 6.2)))))}</text>` +
          `<title>${esc(`${dropped ? 'dropped' : 'delivered'} ${String(r.from)} → ${String(r.to)} (${String(r.ch)} channel, conn ${String(r.conn)})\n${m.label}\n${m.detail}`)}</title>`;
        break;
      }
      case 'role': {
        const lx = x(r.sid);
        if (lx === undefined) break;
        closeSeg(r.sid as number, y);
        applyStatus(status, r);
        const st = status.get(r.sid as number)!;
        cls += ' role';
        inner = `<rect x="${lx - 4}" y="${y - 7}" width="8" height="14" fill="${roleColor(st)}"/><text x="${lx + 8}" y="${y + 4}" fill="${roleColor(st)}" font-weight="bold">${esc(roleText(st))}</text>${tip}`;
        break;
      }
      case 'state': {
        const lx = x(r.sid);
        if (lx === undefined) break;
        cls += ' state';
        inner = `<circle cx="${lx}" cy="${y}" r="2.5" fill="#555"/><text class="small" x="${lx + 6}" y="${y + 3}">${esc(clip(`${String(r.actor)}: ${stateValueText(r.value)}`, 34))}</text>${tip}`;
        break;
      }
      case 'established': {
        const lx = x(r.sid);
        if (lx === undefined) break;
        cls += ' established';
        inner = `<polygon points="${lx},${y - 8} ${lx + 8},${y} ${lx},${y + 8} ${lx - 8},${y}" fill="#2e7d32"/><text x="${lx + 11}" y="${y + 4}" fill="#2e7d32" font-weight="bold">${esc(`established e${String(r.epoch)} at ${String(r.zxid)}`)}</text>${tip}`;
        break;
      }
      case 'fault': {
        const st = typeof r.sid === 'number' ? r.sid : null;
        if (st !== null && laneX.has(st) && (r.fault === 'crash' || r.fault === 'restart')) {
          closeSeg(st, y);
          applyStatus(status, r);
        }
        cls += ' fault';
        const lx = st !== null ? x(st) : undefined;
        const mark =
          lx !== undefined && r.fault === 'crash'
            ? `<text x="${lx - 7}" y="${y + 6}" fill="#b71c1c" font-size="18" font-weight="bold">✕</text>`
            : lx !== undefined && r.fault === 'restart'
              ? `<text x="${lx - 6}" y="${y + 5}" fill="#2e7d32" font-size="15" font-weight="bold">↻</text>`
              : '';
        inner = `<rect x="${LEFT - 6}" y="${y - ROW_H / 2 + 2}" width="${width - LEFT}" height="${ROW_H - 4}" fill="#ffe0b2" opacity="0.7"/><text x="${LEFT}" y="${y + 4}">⚡ ${esc(faultText(r))}</text>${mark}${tip}`;
        break;
      }
      case 'client.ack':
      case 'client.timeout': {
        const lx = x(r.sid);
        if (lx === undefined) break;
        const ok = r.kind === 'client.ack';
        cls += ok ? ' client-ack' : ' client-timeout';
        const res = r.result as { ok?: unknown; code?: unknown } | undefined;
        const what = ok ? `c${String(r.client)} ack ${String(r.zxid ?? '')}${res && res.ok === false ? ` ${String(res.code)}` : ''}` : `c${String(r.client)} TIMEOUT ${String(r.id)}`;
        inner = `<circle cx="${lx}" cy="${y}" r="3" fill="${ok ? '#0097a7' : '#ff6f00'}"/><text class="small" x="${lx - 6}" y="${y + 3}" text-anchor="end">${esc(what)}</text>${tip}`;
        break;
      }
      case 'net.refuse':
      case 'net.close': {
        const lx = x(r.from);
        if (lx === undefined) break;
        cls += ' conn';
        inner = `<text class="small" x="${lx + 6}" y="${y + 3}">${esc(`conn ${String(r.conn)} ${String(r.from)}→${String(r.to)} ${r.kind === 'net.refuse' ? 'refused' : 'closed'}`)}</text>${tip}`;
        break;
      }
      case 'violation': {
        cls += ' violation';
        id = ' id="violation"';
        const detail = String(r.detail ?? '').split('\n')[0] ?? '';
        inner =
          `<rect x="0" y="${y - ROW_H / 2}" width="${width}" height="${ROW_H}" fill="#ffcdd2" stroke="#c62828"/>` +
          `<text x="${LEFT}" y="${y + 4}">VIOLATION ${esc(String(r.invariant))}: ${esc(clip(detail, 140))}</text>${tip}`;
        break;
      }
      default:
        inner = `<text class="small" x="${LEFT}" y="${y + 3}">${esc(clip(`${r.kind} ${json(r)}`, 120))}</text>`;
    }
    body.push(`<g class="${cls}"${id} ${attrs}>${hl}${left}${inner}</g>`);
  });
  const yEnd = TOP + rows * ROW_H + 10;
  for (const s of lanes) closeSeg(s, yEnd);

  const laneHeads = lanes
    .map((s) => {
      const st = model.initial.get(s)!;
      return `<text class="lane-name" x="${laneX.get(s)}" y="${TOP - 40}" text-anchor="middle">server ${s}</text><text class="small" x="${laneX.get(s)}" y="${TOP - 24}" text-anchor="middle">${esc(roleText(st))}</text>`;
    })
    .join('');

  const v = model.violation;
  const title = o.title ?? 'simulator trace';
  const vbox = v
    ? `<div class="vbox"><b>Invariant violated: ${esc(v.invariant)}</b> at step ${v.step}, virtual time ${esc(String(v.time))} ms. ${
        model.violationShown ? '<a href="#violation">Jump to it</a>.' : 'It is outside the window shown.'
      }<pre>${esc(v.detail)}</pre></div>`
    : '<p>No violation in this trace.</p>';
  const stats = `${model.totalLines} lines${model.badLines ? ` (${model.badLines} unreadable, skipped)` : ''}, ${model.drawable} drawable events, ${model.sids.length} servers, virtual time ${model.firstT ?? '?'}..${model.lastT ?? '?'} ms.`;
  const legend =
    '<p class="legend"><span style="color:#263238">→ delivered (quorum channel)</span><span style="color:#7b1fa2">→ delivered (election channel)</span>' +
    '<span style="color:#d32f2f">- - ✕ dropped</span><span style="color:#2e7d32">◆ established / leading lane</span><span style="color:#1565c0">following lane</span>' +
    '<span style="color:#ef6c00">looking lane</span><span style="color:#999">down (dashed)</span><span style="background:#ffe0b2">fault</span><span style="color:#0097a7">• client ack</span>' +
    '<span>Hover a row for the full record. Arrows are drawn at delivery time (the trace has no send times).</span></p>';
  const script = model.violationShown
    ? `<script>window.addEventListener('load',function(){var v=document.getElementById('violation');if(v&&!location.hash)v.scrollIntoView({block:'center'});});</script>`
    : '';

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${esc(title)}</h1>${vbox}<p class="window-note">${esc(model.windowNote)}</p><p>${esc(stats)}</p>${legend}</header>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#263238"/></marker><marker id="arrE" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b1fa2"/></marker></defs>
${laneHeads}
${laneSegs.join('\n')}
${body.join('\n')}
</svg>
${script}
</body></html>
`;
}

/** Lines of a trace in, HTML page out (the whole pipeline, for tests and small traces). */
export function renderTraceHtml(lines: Iterable<string>, o: WindowOptions & RenderOptions = {}): string {
  return renderChart(collectTrace(lines, o), o);
}
