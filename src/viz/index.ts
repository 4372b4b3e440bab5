/**
 * Figures for learners: attention heatmaps, positional encodings, masks and loss curves as
 * SVG, and PNG through the optional package @resvg/resvg-js.
 */
export {
  attentionHeatmapSvg,
  attentionFigureSvg,
  attentionMapsFromTensor,
  type AttentionMap,
  type AttentionHeatmapOptions,
  type AttentionSection,
  type AttentionStyle,
} from './attention.js';
export { lineChartSvg, SERIES_COLORS, type LineChartOptions, type Series } from './chart.js';
export { positionalEncodingSvg, maskSvg, MASK_COLORS } from './tables.js';
export { svgToPng, writeFigure, pngAvailable, findFonts } from './png.js';
export { escapeXml, colormap, niceTicks, type ColormapName } from './svg.js';
