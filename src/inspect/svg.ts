/**
 * A statechart as SVG: laid out by elkjs (layered, hierarchical, so compound and parallel states
 * contain their children) and drawn by a small writer: rounded boxes for states (nested), dashed
 * boxes for parallel states, a dot for each initial state, double boxes for final states, arrows
 * labelled `EVENT [guard]` for every transition that changes state. Deterministic: fixed options,
 * text sized by a monospace estimate, coordinates rounded.
 */
import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ELK as ElkApi, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { MachineModel, StateInfo } from './model.js';
import { transitionLabel } from './mermaid.js';

const FONT = 12;
const CHAR_W = 7.25;
const LABEL_H = 16;

function textWidth(text: string): number {
  return Math.ceil(text.length * CHAR_W) + 8;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(v: number | undefined): string {
  const r = Math.round((v ?? 0) * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}

// elk.bundled.js is CommonJS (module.exports = ELK, with ELK.default = ELK); its typings claim an ES default export.
const ELK = ((elkBundled as unknown as { default?: unknown }).default ?? elkBundled) as new () => ElkApi;

const INITIAL = '::initial';
const ANY = '::any';

export async function toSvg(model: MachineModel): Promise<string> {
  const byId = new Map(model.states.map((s) => [s.id, s]));
  const root = model.states.find((s) => s.parent === null)!;

  const node = (s: StateInfo): ElkNode => {
    const title = s.invoke.length > 0 ? [s.key, ...s.invoke.map((i) => `invokes ${i.src}`)] : [s.key];
    if (s.children.length === 0) {
      const w = Math.max(70, ...title.map(textWidth)) + 16;
      return { id: s.id, width: w, height: 18 + LABEL_H * title.length };
    }
    const children = s.children.map((c) => node(byId.get(c)!));
    if (s.initial) children.unshift({ id: s.id + INITIAL, width: 12, height: 12 });
    return {
      id: s.id,
      children,
      layoutOptions: {
        'elk.padding': `[top=${LABEL_H + 14},left=14,bottom=14,right=14]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${textWidth(s.key) + 28}, 40)`,
      },
    };
  };

  const top = root.children.map((c) => node(byId.get(c)!));
  if (root.initial) top.unshift({ id: root.id + INITIAL, width: 12, height: 12 });
  const edges: ElkExtendedEdge[] = [];
  const labelOf = new Map<string, string>();
  let e = 0;
  for (const s of model.states) {
    if (s.initial) edges.push({ id: `i${e++}`, sources: [s.id + INITIAL], targets: [s.initial] });
  }
  const rootLevel = model.transitions.some((t) => t.source === root.id && t.targets.length > 0);
  if (rootLevel) top.push({ id: root.id + ANY, width: textWidth('in any state') + 16, height: 34 });
  for (const t of model.transitions) {
    for (const target of t.targets) {
      const id = `t${e++}`;
      const text = transitionLabel(t);
      labelOf.set(id, text);
      edges.push({
        id,
        sources: [t.source === root.id ? root.id + ANY : t.source],
        targets: [target],
        labels: [{ text, width: textWidth(text), height: LABEL_H }],
      });
    }
  }
  const graph: ElkNode = {
    id: root.id,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.spacing.nodeNode': '28',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.padding': `[top=${LABEL_H + 20},left=16,bottom=16,right=16]`,
      'elk.randomSeed': '1',
    },
    children: top,
    edges,
  };
  const elk = new ELK();
  const laid = await elk.layout(graph);

  const width = Math.ceil(laid.width ?? 0);
  const height = Math.ceil(laid.height ?? 0);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="${FONT}">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="${LABEL_H + 6}" font-weight="bold" font-size="${FONT + 2}">${esc(model.name)} (machine ${esc(model.id)})</text>`,
  ];

  const drawNode = (k: ElkNode, depth: number): void => {
    const x = n(k.x);
    const y = n(k.y);
    const w = n(k.width);
    const h = n(k.height);
    if (k.id.endsWith(INITIAL)) {
      out.push(`<circle cx="${n((k.x ?? 0) + 6)}" cy="${n((k.y ?? 0) + 6)}" r="6" fill="#222"/>`);
      return;
    }
    if (k.id.endsWith(ANY)) {
      out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="17" fill="#fff" stroke="#888" stroke-dasharray="2 3"/>`);
      out.push(`<text x="${n((k.x ?? 0) + (k.width ?? 0) / 2)}" y="${n((k.y ?? 0) + 21)}" text-anchor="middle" font-style="italic" fill="#555">in any state</text>`);
      return;
    }
    const s = byId.get(k.id)!;
    const fill = ['#fbfbfe', '#f1f3fa', '#e6e9f5', '#dce0f0'][Math.min(depth, 3)]!;
    const dash = s.type === 'parallel' ? ' stroke-dasharray="6 4"' : '';
    out.push(`<g data-state="${esc(s.id)}">`);
    out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" fill="${fill}" stroke="#556"${dash}/>`);
    if (s.type === 'final') {
      out.push(`<rect x="${n((k.x ?? 0) + 3)}" y="${n((k.y ?? 0) + 3)}" width="${n((k.width ?? 0) - 6)}" height="${n((k.height ?? 0) - 6)}" rx="6" fill="none" stroke="#556"/>`);
    }
    if (s.children.length === 0) {
      const lines = [s.key, ...s.invoke.map((i) => `invokes ${i.src}`)];
      lines.forEach((line, i) =>
        out.push(
          `<text x="${n((k.x ?? 0) + (k.width ?? 0) / 2)}" y="${n((k.y ?? 0) + 22 + i * LABEL_H)}" text-anchor="middle"${i > 0 ? ' fill="#555" font-style="italic"' : ''}>${esc(line)}</text>`,
        ),
      );
    } else {
      const tag = s.type === 'parallel' ? ' (parallel)' : '';
      out.push(`<text x="${n((k.x ?? 0) + 10)}" y="${n((k.y ?? 0) + 18)}" font-weight="bold">${esc(s.key + tag)}</text>`);
    }
    out.push('</g>');
    for (const c of k.children ?? []) drawNode(c, depth + 1);
  };
  for (const c of laid.children ?? []) drawNode(c, 0);

  const allEdges: ElkExtendedEdge[] = [];
  const collect = (k: ElkNode): void => {
    for (const ed of k.edges ?? []) allEdges.push(ed);
    for (const c of k.children ?? []) collect(c);
  };
  collect(laid);
  allEdges.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)) || a.id.localeCompare(b.id));
  for (const ed of allEdges) {
    for (const sec of ed.sections ?? []) {
      const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
      const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${n(p.x)},${n(p.y)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="#444" stroke-width="1.2" marker-end="url(#arrow)"/>`);
    }
    for (const l of ed.labels ?? []) {
      const text = labelOf.get(ed.id) ?? l.text ?? '';
      out.push(
        `<text x="${n((l.x ?? 0) + (l.width ?? 0) / 2)}" y="${n((l.y ?? 0) + 12)}" text-anchor="middle" fill="#223" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(text)}</text>`,
      );
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
