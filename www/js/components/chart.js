// Time-series charts on uPlot. The API's `*_details.samples` are [{sample, timestamp}],
// newest first: lengths are plotted as they are, counters as the rate between samples.

import uPlot from '../../vendor/uPlot.esm.js';
import { h } from '../dom.js';

const COLOURS = ['#2f7d6d', '#d08a2b', '#4a6fb5', '#b5485d', '#7a5cb0', '#5f8f3a', '#8a8a8a'];

/** Sample series as [[t (s), ...], [v, ...]] in time order. */
function points(details) {
  const s = [...(details?.samples || [])].sort((a, b) => a.timestamp - b.timestamp);
  return s.map((x) => [x.timestamp / 1000, x.sample]);
}

/** Per-second rates between consecutive samples of a counter. */
function rates(details) {
  const p = points(details);
  const out = [];
  for (let i = 1; i < p.length; i++) {
    const dt = p[i][0] - p[i - 1][0];
    if (dt > 0) out.push([p[i][0], Math.max(0, (p[i][1] - p[i - 1][1]) / dt)]);
  }
  return out;
}

/** Aligns several [[t, v]] series on the union of their times (missing points are null). */
function align(seriesList) {
  const times = [...new Set(seriesList.flatMap((s) => s.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const cols = seriesList.map((s) => {
    const col = new Array(times.length).fill(null);
    for (const [t, v] of s) col[index.get(t)] = v;
    return col;
  });
  return [times, ...cols];
}

/**
 * A chart of named series. `update(pick)` takes a function from a series' key to its
 * `*_details` object and redraws. `kind` is 'lengths' or 'rates'.
 */
export function timeChart({ testid, title, series, kind, seconds = 600 }) {
  const box = h('div', { class: 'chart-box' });
  const el = h('div', { class: 'chart', testid }, h('h3', {}, title), box);
  let plot = null;
  // The x axis is always the last `seconds`, however few samples there are yet.
  const xRange = (u, min, max) => {
    const end = max ?? Date.now() / 1000;
    return [end - seconds, end];
  };
  const yRange = (u, min, max) => [0, Math.max(kind === 'rates' ? 1 : 5, (max ?? 0) * 1.1)];
  const yLabel = (v) => (kind === 'rates' ? `${+v.toFixed(1)}/s` : String(v));
  const opts = (width) => ({
    width, height: 200,
    scales: { x: { time: true, range: xRange }, y: { range: yRange } },
    axes: [{}, { size: 60, values: (u, vals) => vals.map(yLabel) }],
    legend: { live: true },
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true }))],
  });
  const resize = () => plot?.setSize({ width: box.clientWidth || 600, height: 200 });
  window.addEventListener('resize', resize);

  function update(pick) {
    const data = align(series.map((s) => (kind === 'rates' ? rates(pick(s.key)) : points(pick(s.key)))));
    if (!plot) plot = new uPlot(opts(box.clientWidth || 600), data, box);
    else plot.setData(data);
  }

  function destroy() {
    window.removeEventListener('resize', resize);
    plot?.destroy();
  }

  return { el, update, destroy };
}
