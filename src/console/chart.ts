import { html, type Html } from './html';

/** Collections in one hour with one outcome, as the collection log counts them. */
export interface HourlyCount {
  hour: Date;
  outcome: string;
  count: number;
}

/** The chart's series (SPEC §4.1): the outcomes an operator tells apart, in stacking order. */
export const OUTCOME_SERIES = [
  { key: 'ok', label: '200 key handed out' },
  { key: 'e001', label: '001 unknown number' },
  { key: 'e012', label: '012 inactive' },
  { key: 'e013', label: '013 migrated' },
  { key: 'blocked', label: '811/812/813 limits' },
  { key: 'unavailable', label: '503 unavailable' },
  { key: 'other', label: 'other (certificates, pending)' },
] as const;
export type SeriesKey = (typeof OUTCOME_SERIES)[number]['key'];

export function seriesOf(outcome: string): SeriesKey {
  switch (outcome) {
    case '200':
      return 'ok';
    case 'HSMP-001':
      return 'e001';
    case 'HSMP-012':
      return 'e012';
    case 'HSMP-013':
      return 'e013';
    case 'HSMP-811':
    case 'HSMP-812':
    case 'HSMP-813':
      return 'blocked';
    case 'HSMP-999':
      return 'unavailable';
    default:
      return 'other';
  }
}

const HOUR_MS = 3600_000;
const BAR = 5;
const LEFT = 48;
const TOP = 10;
const PLOT_HEIGHT = 160;
const BOTTOM = 24;

const dayLabel = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Brussels', weekday: 'short', day: '2-digit', month: '2-digit' });
const brusselsHour = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Brussels', hour: '2-digit', hour12: false });

/**
 * A stacked bar per hour from `since` to `until`, drawn on the server as SVG: no script, no
 * library, styled by the console's stylesheet (classes, no inline style: the CSP forbids it).
 * A screen reader gets the totals per outcome in the description, and a table follows it.
 */
export function collectionsChart(counts: readonly HourlyCount[], since: Date, until: Date): Html {
  const hours = Math.max(1, Math.ceil((until.getTime() - since.getTime()) / HOUR_MS));
  const buckets = Array.from({ length: hours }, () => new Map<SeriesKey, number>());
  const totals = new Map<SeriesKey, number>();
  for (const { hour, outcome, count } of counts) {
    const index = Math.floor((hour.getTime() - since.getTime()) / HOUR_MS);
    if (index < 0 || index >= hours) continue;
    const key = seriesOf(outcome);
    buckets[index].set(key, (buckets[index].get(key) ?? 0) + count);
    totals.set(key, (totals.get(key) ?? 0) + count);
  }
  const highest = Math.max(1, ...buckets.map((b) => [...b.values()].reduce((a, c) => a + c, 0)));
  const scale = PLOT_HEIGHT / highest;
  const width = LEFT + hours * BAR + 8;
  const height = TOP + PLOT_HEIGHT + BOTTOM;

  const bars: Html[] = [];
  buckets.forEach((bucket, i) => {
    let y = TOP + PLOT_HEIGHT;
    for (const { key } of OUTCOME_SERIES) {
      const count = bucket.get(key) ?? 0;
      if (count === 0) continue;
      const h = Math.max(1, count * scale);
      y -= h;
      bars.push(html`<rect class="s-${key}" x="${LEFT + i * BAR}" y="${y.toFixed(1)}" width="${BAR - 1}" height="${h.toFixed(1)}"></rect>`);
    }
  });
  const midnights: Html[] = [];
  for (let i = 0; i < hours; i++) {
    const at = new Date(since.getTime() + i * HOUR_MS);
    if (brusselsHour.format(at) !== '00') continue;
    const x = LEFT + i * BAR;
    midnights.push(
      html`<line class="grid" x1="${x}" x2="${x}" y1="${TOP}" y2="${TOP + PLOT_HEIGHT}"></line
        ><text class="axis" x="${x + 2}" y="${height - 8}">${dayLabel.format(at)}</text>`,
    );
  }
  const total = [...totals.values()].reduce((a, c) => a + c, 0);
  const description = `${total} collections in all: ${OUTCOME_SERIES.map((s) => `${s.label} ${totals.get(s.key) ?? 0}`).join(', ')}. Highest hour: ${highest}.`;

  return html`<figure class="chart">
    <svg viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">
      <title id="chart-title">Collections per hour over the last 7 days, by outcome</title>
      <desc id="chart-desc">${description}</desc>
      <line class="axis-line" x1="${LEFT}" x2="${width - 8}" y1="${TOP + PLOT_HEIGHT}" y2="${TOP + PLOT_HEIGHT}"></line>
      <text class="axis" x="${LEFT - 4}" y="${TOP + 8}" text-anchor="end">${highest}</text>
      <text class="axis" x="${LEFT - 4}" y="${TOP + PLOT_HEIGHT}" text-anchor="end">0</text>
      ${midnights} ${bars}
    </svg>
    <figcaption>
      <ul class="legend">
        ${OUTCOME_SERIES.map((s) => html`<li><span class="swatch s-${s.key}" aria-hidden="true"></span>${s.label}: ${totals.get(s.key) ?? 0}</li>`)}
      </ul>
    </figcaption>
  </figure>`;
}
