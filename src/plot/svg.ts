// Small, dependency-free SVG charts (line and bar) for run plots and the demo report.
// Every chart is self-contained markup with a title, axes, ticks and a legend.

export interface Series {
  name: string;
  points: [number, number][];
  /** draw markers instead of a line */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  logY?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640, H = o.height ?? 360;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0));
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => ty(p[1]))), Math.max(...pts.map((p) => ty(p[1])))];
  if (!pts.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  // markers at the extremes would sit on the axes: give scatter plots room on x too
  if (series.some((s) => s.markers)) {
    const padX = (x1 - x0) * 0.05;
    x0 -= padX;
    x1 += padX;
  }
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(o.title)}">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of niceTicks(x0, x1)) parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${H - m.b}" y2="${H - m.b + 4}" stroke="#333"/><text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    const yv = o.logY ? 10 ** t : t;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(yv)}" y2="${sy(yv)}" stroke="#eee"/><text x="${m.l - 6}" y="${sy(yv) + 4}" text-anchor="end">${fmt(yv)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}${o.logY ? ' (log)' : ''}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logY || y > 0));
    if (s.markers) for (const [x, y] of p) parts.push(`<circle class="series" cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${c}"/>`);
    else if (p.length) parts.push(`<polyline class="series" fill="none" stroke="${c}" stroke-width="1.8" points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    parts.push(`<rect x="${W - m.r - 150}" y="${m.t + 4 + i * 16}" width="10" height="10" fill="${c}"/><text x="${W - m.r - 136}" y="${m.t + 13 + i * 16}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Bar {
  label: string;
  value: number;
  note?: string;
}

export function barChart(bars: Bar[], o: Omit<ChartOptions, 'xLabel' | 'logY'> & { xLabel?: string }): string {
  const W = o.width ?? 640;
  const rowH = 26;
  const m = { l: 220, r: 80, t: 36, b: 36 };
  const H = o.height ?? m.t + m.b + rowH * bars.length;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const sx = (v: number) => (v / max) * (W - m.l - m.r);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(o.title)}">`];
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  bars.forEach((b, i) => {
    const y = m.t + i * rowH;
    parts.push(`<text x="${m.l - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect class="series" x="${m.l}" y="${y + 4}" width="${Math.max(1, sx(b.value)).toFixed(1)}" height="${rowH - 8}" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<text x="${m.l + sx(b.value) + 6}" y="${y + 16}">${esc(b.note ?? fmt(b.value))}</text>`);
  });
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.yLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
