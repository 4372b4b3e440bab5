/**
 * Line charts for training curves (loss or perplexity against steps): axes with nice ticks,
 * light grid lines, one coloured polyline per series and a legend.
 *
 * Units: SVG user units (pixels); x and y values in the data's own units.
 */
import { escapeXml, fmtTick, niceTicks, num, svgOpen, text, textWidth } from './svg.js';

/** One curve: (x, y) points, e.g. (step, loss). Points with a non-finite coordinate are skipped. */
export interface Series {
  name: string;
  points: [number, number][];
}

/** Options of `lineChartSvg`. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Figure width in px. Default 640. */
  width?: number;
  /** Figure height in px. Default 400. */
  height?: number;
  /** Logarithmic y axis (base 10); points with y <= 0 are then skipped. Default false. */
  logY?: boolean;
}

/** Tableau 10: distinct colours for up to 10 series, then repeated. */
export const SERIES_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** Markers are drawn on series with at most this many points. */
const MARKER_LIMIT = 40;

/** Tick values for a log10 axis over [lo, hi] given as exponents: 10^k, else 1-2-5 steps. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const levels: [number[], number][] = [
    [[1], 3],
    [[1, 2, 5], 4],
    [[1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9], 3],
  ];
  for (const [mults, enough] of levels) {
    out.length = 0;
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      for (const m of mults) {
        const v = Number((m * Math.pow(10, k)).toPrecision(12));
        const e = Math.log10(v);
        if (e >= lo - 1e-12 && e <= hi + 1e-12) out.push(v);
      }
    }
    if (out.length >= enough) return out;
  }
  // Less than about one step of 10%: linear nice ticks inside the range.
  return niceTicks(Math.pow(10, lo), Math.pow(10, hi), 4);
}

function fmtLogTick(v: number): string {
  if (v >= 1e5 || v < 1e-3)
    return v
      .toExponential()
      .replace(/\.?0+e/, 'e')
      .replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/**
 * A line chart as a standalone SVG document, e.g. training and validation loss against steps.
 * Non-finite points (NaN, ±Infinity, and y <= 0 with `logY`) are skipped and the remaining
 * points joined; a series with few points also gets markers, so a single point is visible.
 * When no series has a drawable point the chart says "no data".
 * @param series curves with (x, y) points in data units.
 * @param opts title, axis labels, size in px (default 640 x 400), logY.
 * @returns the SVG text.
 * @throws Error for a width or height below 200 px (named).
 */
export function lineChartSvg(series: Series[], opts: LineChartOptions): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  for (const [name, v] of [
    ['width', W],
    ['height', H],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 200)) {
      throw new Error(`lineChartSvg: option ${name} must be a number >= 200 (px), got ${v}`);
    }
  }
  const logY = opts.logY ?? false;
  const fy = (y: number) => (logY ? Math.log10(y) : y);

  // Drawable points per series, in data units (y transformed for logY).
  const clean = series.map((s) =>
    s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0))
      .map(([x, y]) => [x, fy(y)] as [number, number]),
  );
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const pts of clean) {
    for (const [x, y] of pts) {
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y);
      yMax = Math.max(yMax, y);
    }
  }
  const empty = !Number.isFinite(xMin);
  if (empty) {
    xMin = 0;
    xMax = 1;
    yMin = 0;
    yMax = 1;
  }
  if (xMax === xMin) {
    const d = Math.abs(xMin) * 0.1 || 1;
    xMin -= d;
    xMax += d;
  }
  if (yMax === yMin) {
    const d = logY ? 0.5 : Math.abs(yMin) * 0.1 || 1;
    yMin -= d;
    yMax += d;
  } else {
    const pad = (yMax - yMin) * 0.05;
    yMin -= pad;
    yMax += pad;
  }

  // Ticks: nice values inside the axis ranges. Integer x data (steps) get integer ticks.
  const allIntX = clean.every((pts) => pts.every(([x]) => Number.isInteger(x)));
  let xTicks = empty ? [] : niceTicks(xMin, xMax, Math.max(2, Math.round(W / 90)));
  if (allIntX && xTicks.length > 1 && xTicks[1] - xTicks[0] < 1) {
    xTicks = [];
    for (let k = Math.ceil(xMin); k <= Math.floor(xMax); k++) xTicks.push(k);
  }
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  const yTickValues = empty
    ? []
    : logY
      ? logTicks(yMin, yMax)
      : niceTicks(yMin, yMax, Math.max(2, Math.round(H / 60)));
  const yStep = yTickValues.length > 1 ? yTickValues[1] - yTickValues[0] : 1;
  const yTickLabels = yTickValues.map((v) => (logY ? fmtLogTick(v) : fmtTick(v, yStep)));

  // Layout.
  const tickFont = 11;
  const yLabelW = Math.max(0, ...yTickLabels.map((s) => textWidth(s, tickFont)));
  const left = 14 + 18 + yLabelW + 8;
  const right = 20;
  const top = 40;
  const bottom = 56;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number) => top + ph - ((y - yMin) / (yMax - yMin)) * ph;

  const parts: string[] = [svgOpen(W, H)];
  parts.push(
    text(W / 2, 24, opts.title, {
      'font-size': 15,
      'font-weight': 'bold',
      'text-anchor': 'middle',
    }),
  );
  // Grid lines and ticks.
  parts.push(`<g class="grid" stroke="#e5e5e5" stroke-width="1" shape-rendering="crispEdges">`);
  for (const t of xTicks)
    parts.push(`<line x1="${num(sx(t))}" y1="${top}" x2="${num(sx(t))}" y2="${num(top + ph)}"/>`);
  for (const t of yTickValues) {
    const y = sy(fy(t));
    parts.push(`<line x1="${num(left)}" y1="${num(y)}" x2="${num(left + pw)}" y2="${num(y)}"/>`);
  }
  parts.push('</g>');
  parts.push(
    `<rect class="plot-frame" x="${num(left)}" y="${top}" width="${num(pw)}" height="${num(ph)}" fill="none" stroke="#444444" stroke-width="1" shape-rendering="crispEdges"/>`,
  );
  parts.push(`<g class="x-ticks">`);
  for (const t of xTicks) {
    const x = sx(t);
    parts.push(
      `<line x1="${num(x)}" y1="${num(top + ph)}" x2="${num(x)}" y2="${num(top + ph + 4)}" stroke="#444444"/>`,
    );
    parts.push(
      text(x, top + ph + 17, fmtTick(t, xStep), {
        'font-size': tickFont,
        'text-anchor': 'middle',
        'data-value': String(t),
      }),
    );
  }
  parts.push('</g>');
  parts.push(`<g class="y-ticks">`);
  yTickValues.forEach((t, i) => {
    const y = sy(fy(t));
    parts.push(
      `<line x1="${num(left - 4)}" y1="${num(y)}" x2="${num(left)}" y2="${num(y)}" stroke="#444444"/>`,
    );
    parts.push(
      text(left - 7, y + 4, yTickLabels[i], {
        'font-size': tickFont,
        'text-anchor': 'end',
        'data-value': String(t),
      }),
    );
  });
  parts.push('</g>');
  // Axis labels.
  parts.push(
    text(left + pw / 2, H - 14, opts.xLabel, { 'font-size': 12, 'text-anchor': 'middle' }),
  );
  const ylx = 20;
  const yly = top + ph / 2;
  parts.push(
    text(ylx, yly, opts.yLabel + (logY ? ' (log scale)' : ''), {
      'font-size': 12,
      'text-anchor': 'middle',
      transform: `rotate(-90 ${ylx} ${num(yly)})`,
    }),
  );

  if (empty) {
    parts.push(
      text(left + pw / 2, top + ph / 2, 'no data', {
        class: 'no-data',
        'font-size': 18,
        fill: '#888888',
        'text-anchor': 'middle',
        'dominant-baseline': 'central',
      }),
    );
  } else {
    // Curves, clipped to the plot area.
    parts.push(
      `<defs><clipPath id="plot-area"><rect x="${num(left)}" y="${top}" width="${num(pw)}" height="${num(ph)}"/></clipPath></defs>`,
    );
    parts.push(`<g class="curves" clip-path="url(#plot-area)">`);
    clean.forEach((pts, i) => {
      const color = SERIES_COLORS[i % SERIES_COLORS.length];
      const name = escapeXml(series[i].name);
      if (pts.length > 0) {
        const coords = pts.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`).join(' ');
        parts.push(
          `<polyline class="series" data-series="${name}" points="${coords}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"/>`,
        );
      }
      if (pts.length <= MARKER_LIMIT) {
        for (const [x, y] of pts) {
          parts.push(
            `<circle class="marker" cx="${num(sx(x))}" cy="${num(sy(y))}" r="3" fill="${color}"/>`,
          );
        }
      }
    });
    parts.push('</g>');
  }

  // Legend, top right inside the plot area.
  if (series.length > 0) {
    const lw = Math.max(...series.map((s) => textWidth(s.name, 11))) + 40;
    const lh = series.length * 18 + 8;
    const lx = left + pw - lw - 8;
    const ly = top + 8;
    parts.push(`<g class="legend">`);
    parts.push(
      `<rect x="${num(lx)}" y="${num(ly)}" width="${num(lw)}" height="${lh}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
    );
    series.forEach((s, i) => {
      const y = ly + 13 + i * 18;
      const color = SERIES_COLORS[i % SERIES_COLORS.length];
      parts.push(
        `<line x1="${num(lx + 8)}" y1="${num(y)}" x2="${num(lx + 28)}" y2="${num(y)}" stroke="${color}" stroke-width="2.5"/>`,
      );
      parts.push(text(lx + 34, y + 4, s.name, { 'font-size': 11 }));
    });
    parts.push('</g>');
  }
  parts.push('</svg>\n');
  return parts.join('\n');
}
