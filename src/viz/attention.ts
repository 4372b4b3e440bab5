/**
 * Attention maps as SVG heatmaps (Vaswani et al. 2017, Sec. 3.2 and the attention
 * visualizations of its Figures 3-5): one panel per layer/head, query tokens down the y axis,
 * key tokens along the x axis, a shared colour bar from 0 to the largest weight.
 *
 * Shape letters: B batch, H heads, T query length, S key length.
 */
import type { Tensor } from '../tensor.js';
import { finiteMax, heatmapGrid, type Block } from './heatmap.js';
import {
  checkColormap,
  escapeXml,
  num,
  svgOpen,
  text,
  textWidth,
  type ColormapName,
} from './svg.js';

/** One attention map: `rows` x `cols` weights, row-major (query r attends key c). */
export interface AttentionMap {
  /** Panel title, e.g. "encoder layer 1 head 2". */
  title: string;
  /** (rows, cols) weights, row-major; usually each row sums to 1. */
  weights: Float32Array | number[];
  /** Number of queries (T). */
  rows: number;
  /** Number of keys (S). */
  cols: number;
}

/** Options shared by the attention figures. */
export interface AttentionStyle {
  /** Panels per grid row. Default: min(number of maps, 4). */
  columns?: number;
  /** Side of one cell in pixels. Default 22. */
  cellSize?: number;
  /** Colour map: 'blues' (white to dark blue, default) or 'viridis', 'greys', 'rdbu'. */
  colormap?: ColormapName;
  /**
   * Hover tooltips (an SVG <title> per cell naming query, key and weight). Default: on when
   * the grid has at most 20,000 cells (they triple the file size).
   */
  tooltips?: boolean;
  /** Top of the colour scale. Default: the largest weight of the grid (1 if none is > 0). */
  vmax?: number;
}

/** Options of `attentionHeatmapSvg`. */
export interface AttentionHeatmapOptions extends AttentionStyle {
  /** Query tokens, one per row (length T). */
  rowTokens: string[];
  /** Key tokens, one per column (length S). */
  colTokens: string[];
  /** Figure title drawn above the grid. */
  title?: string;
}

/** One section of a figure: a group of maps sharing axes (e.g. all cross-attention heads). */
export interface AttentionSection extends AttentionStyle {
  /** Section heading, e.g. "decoder cross-attention". */
  name: string;
  rowTokens: string[];
  colTokens: string[];
  maps: AttentionMap[];
}

const DEFAULT_CELL = 22;

function checkStyle(s: AttentionStyle, where: string): void {
  if (s.cellSize !== undefined && !(s.cellSize > 0 && Number.isFinite(s.cellSize))) {
    throw new Error(`${where}: cellSize must be a positive number, got ${s.cellSize}`);
  }
  if (s.columns !== undefined && !(Number.isInteger(s.columns) && s.columns >= 1)) {
    throw new Error(`${where}: columns must be a positive integer, got ${s.columns}`);
  }
  if (s.vmax !== undefined && !(s.vmax > 0 && Number.isFinite(s.vmax))) {
    throw new Error(`${where}: vmax must be a positive number, got ${s.vmax}`);
  }
  if (s.colormap !== undefined) checkColormap(s.colormap, `${where}: option colormap`);
}

function sectionGrid(sec: AttentionSection, where: string): Block {
  checkStyle(sec, where);
  const T = sec.rowTokens.length;
  const S = sec.colTokens.length;
  if (sec.maps.length === 0) throw new Error(`${where}: no attention maps to draw`);
  for (const m of sec.maps) {
    if (m.rows !== T || m.cols !== S) {
      throw new Error(
        `${where}: map '${m.title}' is ${m.rows}x${m.cols} but there are ${T} row tokens and ${S} column tokens`,
      );
    }
    if (m.weights.length !== m.rows * m.cols) {
      throw new Error(
        `${where}: map '${m.title}' has ${m.weights.length} weights, expected rows*cols = ${m.rows * m.cols}`,
      );
    }
  }
  const panels = sec.maps.map((m) => ({ title: m.title, values: m.weights }));
  const max = finiteMax(panels);
  const cell = sec.cellSize ?? DEFAULT_CELL;
  return heatmapGrid({
    panels,
    rows: T,
    cols: S,
    rowAxis: { kind: 'tokens', labels: sec.rowTokens },
    colAxis: { kind: 'tokens', labels: sec.colTokens },
    cellW: cell,
    cellH: cell,
    columns: sec.columns ?? Math.min(sec.maps.length, 4),
    cmap: sec.colormap ?? 'blues',
    vmin: 0,
    vmax: sec.vmax ?? (max > 0 ? max : 1),
    xLabel: 'key',
    yLabel: 'query',
    legend: { kind: 'colorbar', label: 'attention weight' },
    cellTitle: !(sec.tooltips ?? panels.length * T * S <= 20000)
      ? null
      : (r, c, v) =>
          `query ${r} '${sec.rowTokens[r]}' → key ${c} '${sec.colTokens[c]}': ${Number.isFinite(v) ? v.toFixed(4) : String(v)}`,
  });
}

/**
 * A grid of attention heatmaps (one panel per layer/head) over the same query and key tokens,
 * as a standalone UTF-8 SVG document. Tokens are XML-escaped; non-ASCII text is kept.
 * @param maps the panels; each `weights` is (rows, cols) = (T, S), row-major.
 * @param opts tokens (T query tokens, S key tokens), layout (columns, cellSize in px), title.
 * @returns the SVG text.
 * @throws Error when there are no maps, when a map's size disagrees with the tokens or with
 *   its weights, or on a bad option (named).
 */
export function attentionHeatmapSvg(maps: AttentionMap[], opts: AttentionHeatmapOptions): string {
  const grid = sectionGrid({ ...opts, name: '', maps }, 'attentionHeatmapSvg');
  const margin = 12;
  const titleH = opts.title ? 30 : 0;
  const width = Math.max(grid.width, opts.title ? textWidth(opts.title, 16) : 0) + 2 * margin;
  const height = grid.height + titleH + 2 * margin;
  let body = svgOpen(width, height);
  if (opts.title) {
    body +=
      text(margin, margin + 18, opts.title, { 'font-size': 16, 'font-weight': 'bold' }) + '\n';
  }
  body += grid.draw(margin, margin + titleH) + '\n</svg>\n';
  return body;
}

/**
 * One figure holding several sections, each with its own axes and colour bar: e.g. encoder
 * self-attention (source x source), decoder self-attention (target x target) and
 * cross-attention (target x source), stacked top to bottom.
 * @param sections each with a heading, its tokens and its maps (as in `attentionHeatmapSvg`).
 * @param opts figure title.
 * @returns the SVG text.
 * @throws Error when there are no sections, or as `attentionHeatmapSvg` for a section
 *   (the message names the section).
 */
export function attentionFigureSvg(
  sections: AttentionSection[],
  opts: { title?: string } = {},
): string {
  if (sections.length === 0) throw new Error('attentionFigureSvg: no sections to draw');
  const grids = sections.map((s) => sectionGrid(s, `attentionFigureSvg: section '${s.name}'`));
  const margin = 12;
  const titleH = opts.title ? 32 : 0;
  const headH = 26;
  const gap = 16;
  let width = opts.title ? textWidth(opts.title, 18) : 0;
  let height = titleH;
  sections.forEach((s, i) => {
    width = Math.max(width, grids[i].width, textWidth(s.name, 15));
    height += headH + grids[i].height + (i > 0 ? gap : 0);
  });
  width += 2 * margin;
  height += 2 * margin;
  const parts: string[] = [svgOpen(width, height)];
  if (opts.title) {
    parts.push(text(margin, margin + 20, opts.title, { 'font-size': 18, 'font-weight': 'bold' }));
  }
  let y = margin + titleH;
  sections.forEach((s, i) => {
    if (i > 0) {
      y += gap / 2;
      parts.push(
        `<line x1="${margin}" y1="${num(y)}" x2="${num(width - margin)}" y2="${num(y)}" stroke="#cccccc"/>`,
      );
      y += gap / 2;
    }
    parts.push(`<g class="section" data-name="${escapeXml(s.name)}">`);
    parts.push(text(margin, y + 18, s.name, { 'font-size': 15, 'font-weight': 'bold' }));
    parts.push(grids[i].draw(margin, y + headH));
    parts.push('</g>');
    y += headH + grids[i].height;
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

/**
 * Split an attention-weight tensor into maps for the figures above.
 * @param weights (T, S), (H, T, S) or (B, H, T, S) float32, as `MultiheadAttention` returns
 *   with `averageAttnWeights: false` (or in `lastWeights`). With `headsAveraged`, a 3-D
 *   tensor is read as (B, T, S) instead of (H, T, S).
 * @param opts `batch` index to show (default 0); `titlePrefix` such as "encoder layer 1"
 *   (titles become "encoder layer 1 head 2", heads counted from 1).
 * @returns one map per head.
 * @throws Error for another rank, a non-float tensor or a batch index out of range.
 */
export function attentionMapsFromTensor(
  weights: Tensor,
  opts: { batch?: number; titlePrefix?: string; headsAveraged?: boolean } = {},
): AttentionMap[] {
  const where = 'attentionMapsFromTensor';
  if (weights.dtype !== 'float32')
    throw new Error(`${where}: weights must be float32, got ${weights.dtype}`);
  const shape = weights.shape;
  const prefix = opts.titlePrefix ?? '';
  const b = opts.batch ?? 0;
  let lead: number[]; // (B?, H?) sizes before (T, S)
  if (shape.length === 2) lead = [];
  else if (shape.length === 3) lead = opts.headsAveraged ? [shape[0], 1] : [1, shape[0]];
  else if (shape.length === 4) lead = [shape[0], shape[1]];
  else
    throw new Error(
      `${where}: expected (T, S), (H, T, S) or (B, H, T, S), got rank ${shape.length}`,
    );
  const [B, H] = lead.length ? lead : [1, 1];
  if (!(Number.isInteger(b) && b >= 0 && b < B)) {
    throw new Error(`${where}: batch ${b} out of range for batch size ${B}`);
  }
  const T = shape[shape.length - 2];
  const S = shape[shape.length - 1];
  const data = weights.data as Float32Array;
  const out: AttentionMap[] = [];
  for (let h = 0; h < H; h++) {
    const off = (b * H + h) * T * S;
    const headName =
      shape.length === 2
        ? 'attention'
        : opts.headsAveraged && shape.length === 3
          ? 'mean of heads'
          : `head ${h + 1}`;
    out.push({
      title: prefix ? `${prefix} ${headName}` : headName,
      weights: data.slice(off, off + T * S),
      rows: T,
      cols: S,
    });
  }
  return out;
}
