/* global document, window, fetch, TextDecoder, console */
/**
 * The page of `transformer serve` (plain JS, no framework): sends the sentence to the JSON
 * endpoints, shows the streamed output token by token (server-sent events read from fetch),
 * then draws the attention weights of every layer and head on canvases (hover reads a
 * weight), the positional encoding and the attention mask.
 */
const $ = (id) => document.getElementById(id);
let models = [];

/** Viridis (matplotlib's default map) at 9 stops, for weights in [0, 1]. */
const VIRIDIS = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Colour of v in [0, 1] on the viridis map. */
function viridis(v) {
  const x = Math.min(1, Math.max(0, v)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Diverging blue - white - red colour of v in [-1, 1] (positional encodings). */
function diverging(v) {
  const t = Math.min(1, Math.max(-1, v));
  const w = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${w},${w})` : `rgb(${w},${w},255)`;
}

/** Show `text`; `state` ('running', 'done', 'error') is also set on <body data-state>. */
function setStatus(text, state = 'running') {
  $('status').textContent = text;
  $('status').className = state === 'error' ? 'error' : '';
  document.body.dataset.state = state;
}

/** POST a JSON body; the parsed JSON answer, or an Error with the server's message. */
async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

/** POST with "stream": true and yield the server-sent events ({event, data}) as they come. */
async function* postStream(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!r.ok) throw new Error((await r.json()).error || `HTTP ${r.status}`);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, k);
      buf = buf.slice(k + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      yield { event, data: JSON.parse(data) };
    }
  }
}

/** Show the pieces in #output after `prefix` as they come; returns the full text. */
async function showPieces(pieces, prefix) {
  const out = $('output');
  out.textContent = prefix;
  let text = prefix;
  for await (const piece of pieces) {
    text += piece;
    out.textContent = text;
  }
  return text;
}

/** The tokens of a server-sent-events stream (POST `path`), as an async iterator. */
async function* serverPieces(path, body) {
  for await (const { event, data } of postStream(path, body)) {
    if (event === 'error') throw new Error(data.error);
    if (event !== 'done') yield data.token;
  }
}

/** Compute on the server: the JSON endpoints. */
const onServer = {
  translate: (m, text, max) => serverPieces('/api/translate', { text, model: m.name, maxLen: max }),
  generate: (m, text, max) =>
    serverPieces('/api/generate', { text, model: m.name, maxTokens: max, temperature: 0 }),
  classify: async (m, text) =>
    (await post('/api/classify', { text, model: m.name })).predictions[0],
  attention: (m, text, target) => post('/api/attention', { text, model: m.name, target }),
};

/** Compute in this browser: the library bundled with its js backend (GET /browser.js). */
let lib = null;
const loaded = new Map();
const inBrowser = {
  async model(m) {
    lib ??= await import('/browser.js');
    if (!loaded.has(m.name)) loaded.set(m.name, await lib.loadModelFrom(`/models/${m.name}/`));
    return loaded.get(m.name);
  },
  translate: async function* (m, text, max) {
    yield* (await inBrowser.model(m)).translateStream(text, { maxLen: max });
  },
  generate: async function* (m, text, max) {
    yield* (await inBrowser.model(m)).generateStream(text, { maxTokens: max, temperature: 0 });
  },
  // (the model first: it loads `lib`)
  classify: async (m, text) => {
    const model = await inBrowser.model(m);
    return lib.classify(model, text);
  },
  attention: async (m, text, target) => {
    const model = await inBrowser.model(m);
    return lib.attention(model, text, target);
  },
};

const tip = $('tip');
function showTip(e, text) {
  tip.hidden = false;
  tip.textContent = text;
  tip.style.left = `${e.clientX + 14}px`;
  tip.style.top = `${e.clientY + 14}px`;
}

/**
 * Draw a (rows x cols) grid of values on `canvas` with row labels on the left and column
 * labels on top; hovering a cell shows describe(i, j, value).
 */
function drawGrid(canvas, grid, o) {
  const ctx = canvas.getContext('2d');
  ctx.font = '11px DejaVu Sans, sans-serif';
  const width = (labels) =>
    Math.min(90, Math.max(0, ...labels.map((t) => ctx.measureText(t).width)));
  const left = o.rowLabels ? width(o.rowLabels) + 6 : 0;
  const top = o.colLabels ? width(o.colLabels) + 6 : 0;
  const cw = o.cellW;
  const ch = o.cellH ?? o.cellW;
  canvas.width = left + grid.cols * cw + 1;
  canvas.height = top + grid.rows * ch + 1;
  ctx.font = '11px DejaVu Sans, sans-serif';
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < grid.rows; i++)
    for (let j = 0; j < grid.cols; j++) {
      ctx.fillStyle = o.color(grid.values[i * grid.cols + j]);
      ctx.fillRect(left + j * cw, top + i * ch, cw, ch);
    }
  ctx.fillStyle = '#1f2328';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  (o.rowLabels || []).forEach((t, i) => ctx.fillText(t, left - 4, top + (i + 0.5) * ch, 90));
  ctx.save();
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'left';
  (o.colLabels || []).forEach((t, j) => ctx.fillText(t, -top + 4, left + (j + 0.5) * cw, 90));
  ctx.restore();
  canvas.onmousemove = (e) => {
    const r = canvas.getBoundingClientRect();
    const j = Math.floor((e.clientX - r.left - left) / cw);
    const i = Math.floor((e.clientY - r.top - top) / ch);
    if (i < 0 || j < 0 || i >= grid.rows || j >= grid.cols) return (tip.hidden = true);
    showTip(e, o.describe(i, j, grid.values[i * grid.cols + j]));
  };
  canvas.onmouseleave = () => (tip.hidden = true);
}

/** A token as an axis label: white space made visible. */
const shown = (t) => (t.trim() === '' ? t.replace(/ /g, '\u2423').replace(/\t/g, '\u21e5') : t);

/** The attention sections: per section a title, per layer a row of heads. */
function drawSections(payload) {
  const root = $('sections');
  root.textContent = '';
  for (const section of payload.sections) {
    const s = {
      ...section,
      rowTokens: section.rowTokens.map(shown),
      colTokens: section.colTokens.map(shown),
    };
    const h = document.createElement('h2');
    h.textContent = s.name;
    root.append(h);
    const size = Math.max(s.rowTokens.length, s.colTokens.length);
    const cell = Math.max(6, Math.min(26, Math.floor(200 / size)));
    const layers = new Map();
    for (const m of s.maps) {
      if (!layers.has(m.layer)) layers.set(m.layer, []);
      layers.get(m.layer).push(m);
    }
    for (const [layer, maps] of layers) {
      const row = document.createElement('div');
      row.className = 'layer';
      for (const m of maps) {
        const fig = document.createElement('div');
        fig.className = 'head';
        const canvas = document.createElement('canvas');
        canvas.className = 'heatmap';
        canvas.title = m.title;
        drawGrid(canvas, m, {
          cellW: cell,
          rowLabels: s.rowTokens,
          colLabels: s.colTokens,
          color: viridis,
          describe: (i, j, v) =>
            `${m.title}: query '${s.rowTokens[i]}' -> key '${s.colTokens[j]}' = ${v.toFixed(3)}`,
        });
        fig.append(canvas, m.title || `layer ${layer}`);
        row.append(fig);
      }
      root.append(row);
    }
  }
  const pe = payload.positional;
  if (pe) {
    const amax = Math.max(1e-9, ...pe.values.map(Math.abs)); // the scale spans -amax..amax
    drawGrid($('positional'), pe, {
      cellW: Math.max(1, Math.floor(256 / pe.cols)),
      cellH: Math.max(2, Math.min(14, Math.floor(200 / pe.rows))),
      color: (v) => diverging(v / amax),
      describe: (i, j, v) => `position ${i}, dimension ${j}: ${v.toFixed(3)}`,
    });
    $('positional-title').textContent = pe.title;
  }
  $('positional').hidden = !pe;
  const mask = payload.mask;
  const tokens = payload.sections[payload.task === 'translate' ? 1 : 0]?.rowTokens.map(shown);
  drawGrid($('mask'), mask, {
    cellW: Math.max(4, Math.min(20, Math.floor(180 / mask.cols))),
    rowLabels: tokens,
    colLabels: tokens,
    color: (v) => (v ? '#3d4450' : '#e8f1fb'),
    describe: (i, j, v) => `query ${i}, key ${j}: ${v ? 'masked (not allowed)' : 'allowed'}`,
  });
  $('mask-title').textContent = mask.title;
}

/** Run the chosen model on the text, then draw its attention. */
async function run(e) {
  e?.preventDefault();
  const text = $('text').value.trim() || $('text').placeholder;
  const m = models.find((x) => x.name === $('model').value) || models[0];
  const max = Number($('max').value) || 40;
  $('labels').textContent = '';
  setStatus('running...');
  const compute = $('mode').value === 'browser' ? inBrowser : onServer;
  try {
    let target;
    let attended = text;
    if (m.task === 'translate') {
      $('output-title').textContent = 'translation';
      target = await showPieces(compute.translate(m, text, max), '');
    } else if (m.task === 'lm') {
      $('output-title').textContent = 'continuation';
      attended = await showPieces(compute.generate(m, text, max), text);
    } else {
      $('output-title').textContent = 'label';
      const p = await compute.classify(m, text);
      $('output').textContent = `${p.label} (${p.score.toFixed(3)})`;
      for (const [label, score] of Object.entries(p.scores)) {
        const bar = document.createElement('div');
        bar.className = 'bar';
        bar.innerHTML = `<span></span><i style="width:${Math.round(score * 200)}px"></i><b></b>`;
        bar.firstChild.textContent = label;
        bar.lastChild.textContent = score.toFixed(3);
        $('labels').append(bar);
      }
    }
    setStatus('attention...');
    const payload = await compute.attention(m, attended, target);
    drawSections(payload);
    setStatus(payload.warnings.length ? `done (${payload.warnings.join('; ')})` : 'done', 'done');
  } catch (err) {
    console.error(err);
    setStatus(err.message, 'error');
  }
}

async function init() {
  try {
    models = (await (await fetch('/api/models')).json()).models;
  } catch (err) {
    return setStatus(`cannot reach the server: ${err.message}`, 'error');
  }
  for (const m of models) {
    const opt = document.createElement('option');
    opt.value = m.name;
    opt.textContent = `${m.name} (${m.task})`;
    $('model').append(opt);
  }
  $('form').addEventListener('submit', run);
  window.transformerPageReady = true;
  setStatus(`${models.length} model(s) loaded`, 'ready');
}

init();
