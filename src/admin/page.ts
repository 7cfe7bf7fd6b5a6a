/**
 * The inspector page: one self-contained HTML document (no external scripts, fonts or styles, so it
 * works offline). It asks the port that served it for the ensemble (/ensemble), then opens one
 * EventSource per server's admin port and draws, per server side by side: role, epoch, zxids, the
 * peer statechart and the current role's statechart with the active states highlighted, a leader's
 * learner handlers, and a scrolling log of transitions and (rate-limited) events. A server that stops
 * answering is shown as down; EventSource reconnects by itself when it is back.
 *
 * Hooks for tests: `section.srv[data-server=N]` carries `data-up` and `data-role`; highlighted
 * diagram groups are `g[data-state=<state id>].active`.
 */
export function inspectorPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><span id="summary">loading…</span>
<label><input type="checkbox" id="show-events" checked> events</label>
<label><input type="checkbox" id="show-pings"> pings</label>
<span class="hint">click a diagram to zoom</span></header>
<main id="grid"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `
:root { font-family: ui-sans-serif, system-ui, sans-serif; font-size: 14px; color: #1d2330; background: #eef0f5; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 16px; padding: 10px 16px; background: #1d2330; color: #fff; }
header h1 { font-size: 17px; margin: 0; }
#summary { color: #c9d1e4; flex: 1; }
header label, header .hint { color: #c9d1e4; font-size: 12px; }
#grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; padding: 12px; }
.srv { background: #fff; border-radius: 8px; border: 2px solid #cfd5e3; padding: 10px 12px; min-width: 0; }
.srv[data-role="leading"] { border-color: #d08a00; }
.srv[data-up="false"] { opacity: 0.55; border-style: dashed; }
.srv h2 { margin: 0 0 6px; font-size: 16px; display: flex; gap: 8px; align-items: center; }
.role { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #dfe4f0; }
.srv[data-role="leading"] .role { background: #ffd966; }
.srv[data-role="following"] .role { background: #cfe8cf; }
.srv[data-role="looking"] .role { background: #f6d5d5; }
.srv[data-up="false"] .role { background: #bbb; }
dl.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 10px; margin: 0 0 8px; font-size: 12px; }
dl.facts dt { color: #667; } dl.facts dd { margin: 0; font-family: ui-monospace, monospace; }
.chart { border: 1px solid #e3e6ee; border-radius: 6px; margin: 6px 0; overflow: auto; max-height: 520px; }
.chart svg { width: 100%; height: auto; display: block; cursor: zoom-in; }
.chart.zoom svg { width: auto; max-width: none; cursor: zoom-out; }
.chart-title { font-size: 12px; color: #556; margin: 8px 0 2px; }
.chart g.active > rect:first-of-type { stroke: #c27c00; stroke-width: 2.5px; }
.chart g.active.leaf > rect:first-of-type { fill: #ffd966; }
.learners { font-size: 12px; font-family: ui-monospace, monospace; margin: 4px 0; }
.log { list-style: none; margin: 6px 0 0; padding: 4px 6px; height: 220px; overflow-y: auto; background: #f7f8fb; border: 1px solid #e3e6ee; border-radius: 6px; font: 11px/1.35 ui-monospace, monospace; }
.log li { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.log .transition { color: #12335e; } .log .event { color: #667; } .log .actor { color: #8a5a00; } .log .down { color: #a00; }
`;

// Plain browser JavaScript (no build step); every text goes in through textContent.
const SCRIPT = `
'use strict';
const svgCache = new Map();
function svgOf(machine) {
  if (!svgCache.has(machine)) svgCache.set(machine, fetch('/statecharts/' + machine + '.svg').then(r => r.ok ? r.text() : ''));
  return svgCache.get(machine);
}
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function time(t) { const d = new Date(t); return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0'); }
function leaves(ids) { return ids.filter(id => !ids.some(o => o !== id && o.startsWith(id + '.'))); }
function short(id) { const i = id.indexOf('.'); return i < 0 ? id : id.slice(i + 1); }

class Panel {
  constructor(member) {
    this.member = member;
    this.actors = new Map();
    this.roleMachine = null;
    this.root = el('section', 'srv');
    this.root.dataset.server = String(member.id);
    this.root.dataset.up = 'false';
    this.root.dataset.role = 'unknown';
    const h = el('h2'); h.append(el('span', '', 'server ' + member.id), this.roleEl = el('span', 'role', 'connecting…'));
    this.facts = el('dl', 'facts');
    this.peerChart = el('div', 'chart chart-peer');
    this.roleTitle = el('div', 'chart-title', 'role');
    this.roleChart = el('div', 'chart chart-role');
    this.learnersEl = el('div', 'learners');
    this.log = el('ol', 'log');
    for (const c of [this.peerChart, this.roleChart]) c.addEventListener('click', () => c.classList.toggle('zoom'));
    this.root.append(h, this.facts, el('div', 'chart-title', 'peer'), this.peerChart, this.roleTitle, this.roleChart, this.learnersEl, el('div', 'chart-title', 'events and transitions'), this.log);
    svgOf('peer').then(s => { this.peerChart.innerHTML = s; this.highlight(); });
    if (!member.admin) { this.roleEl.textContent = 'no admin port'; return; }
    this.connect();
  }
  connect() {
    const es = new EventSource(this.member.admin + '/events');
    es.addEventListener('hello', e => {
      const d = JSON.parse(e.data);
      this.actors = new Map(d.actors.map(a => [a.actor, a]));
      this.setUp(true);
      this.log.replaceChildren();
      for (const r of d.recent) this.logRecord(r);
      this.setStatus(d.status);
      this.render();
    });
    es.addEventListener('insp', e => this.apply(JSON.parse(e.data)));
    es.addEventListener('status', e => this.setStatus(JSON.parse(e.data)));
    es.onerror = () => { if (this.root.dataset.up !== 'false') { this.setUp(false); this.logLine('down', Date.now(), 'admin port not answering: server down? (retrying)'); } };
  }
  setUp(up) {
    this.root.dataset.up = String(up);
    if (!up) { this.actors.clear(); this.root.dataset.role = 'down'; this.roleEl.textContent = 'down'; this.render(); summary(); }
  }
  apply(r) {
    if (r.kind === 'actor-started') this.actors.set(r.actor, { actor: r.actor, machine: r.machine, states: r.states });
    else if (r.kind === 'actor-stopped') this.actors.delete(r.actor);
    else if (r.kind === 'transition') { const a = this.actors.get(r.actor); if (a) a.states = r.to; else this.actors.set(r.actor, { actor: r.actor, machine: r.machine, states: r.to }); }
    this.logRecord(r);
    if (r.kind !== 'event' && r.kind !== 'dropped') this.render();
  }
  setStatus(s) {
    this.status = s;
    this.root.dataset.role = s.role;
    this.roleEl.textContent = s.role + ' · ' + s.phase;
    const rows = [['epoch', s.epoch], ['leader', s.leader ?? '–'], ['last zxid', s.lastZxid], ['committed', s.lastCommitted], ['applied', s.lastApplied], ['znodes', s.znodes ?? '–'], ['clients', s.connections], ['pid', s.pid]];
    this.facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', String(v))]));
    summary();
  }
  render() {
    const role = [...this.actors.values()].find(a => a.actor === 'role');
    const machine = role ? role.machine : null;
    if (machine !== this.roleMachine) {
      this.roleMachine = machine;
      this.roleTitle.textContent = machine ? 'role: ' + machine : 'role: none';
      this.roleChart.replaceChildren();
      if (machine) svgOf(machine).then(s => { if (this.roleMachine === machine) { this.roleChart.innerHTML = s; this.highlight(); } });
    }
    const learners = [...this.actors.values()].filter(a => a.machine === 'learnerHandler');
    this.learnersEl.textContent = learners.length ? learners.map(a => a.actor + ': ' + leaves(a.states).map(short).join(', ')).join('  ·  ') : '';
    this.highlight();
  }
  highlight() {
    const active = new Set();
    for (const a of this.actors.values()) if (a.machine !== 'learnerHandler') for (const s of a.states) active.add(s);
    const leafSet = new Set(leaves([...active]));
    for (const chart of [this.peerChart, this.roleChart]) {
      for (const g of chart.querySelectorAll('g[data-state]')) {
        const id = g.getAttribute('data-state');
        g.classList.toggle('active', active.has(id));
        g.classList.toggle('leaf', leafSet.has(id));
      }
    }
  }
  logRecord(r) {
    if (r.kind === 'transition') this.logLine('transition', r.t, r.actor + (r.event ? '  ' + r.event : '') + '  →  ' + leaves(r.to).map(short).join(', '));
    else if (r.kind === 'event') { if (shown(r.event)) this.logLine('event', r.t, r.actor + '  ' + r.event); }
    else if (r.kind === 'actor-started') this.logLine('actor', r.t, '+ ' + r.actor + ' (' + r.machine + ') in ' + leaves(r.states).map(short).join(', '));
    else if (r.kind === 'actor-stopped') this.logLine('actor', r.t, '− ' + r.actor + ' (' + r.machine + ') stopped');
    else if (r.kind === 'dropped') this.logLine('event', r.t, '… ' + r.events + ' more events in that second not shown');
  }
  logLine(cls, t, text) {
    const li = el('li', cls, time(t) + '  ' + text);
    li.title = li.textContent;
    const stick = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 4;
    this.log.append(li);
    while (this.log.childElementCount > 300) this.log.firstElementChild.remove();
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }
}

const panels = [];
function shown(event) {
  if (!document.getElementById('show-events').checked) return false;
  return document.getElementById('show-pings').checked || !/PING|pingInterval/.test(event);
}
function summary() {
  const up = panels.filter(p => p.root.dataset.up === 'true');
  const leader = panels.find(p => p.root.dataset.role === 'leading' && p.root.dataset.up === 'true');
  document.getElementById('summary').textContent = up.length + ' of ' + panels.length + ' servers up · leader: ' + (leader ? 'server ' + leader.member.id + ', epoch ' + leader.status.epoch : 'none');
}

fetch('/ensemble').then(r => r.json()).then(ens => {
  const grid = document.getElementById('grid');
  for (const m of ens.servers) { const p = new Panel(m); panels.push(p); grid.append(p.root); }
  summary();
}).catch(err => { document.getElementById('summary').textContent = 'cannot read /ensemble: ' + err; });
`;
