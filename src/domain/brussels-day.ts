/**
 * Quotas count per calendar day in Europe/Brussels (SPEC §3). Pure functions of an instant.
 * Brussels changes clocks at 02:00/03:00, never at midnight, so every day has one midnight.
 */
const TIME_ZONE = 'Europe/Brussels';
const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' });
const offsetFormat = new Intl.DateTimeFormat('en-US', { timeZone: TIME_ZONE, timeZoneName: 'longOffset' });

/** The Brussels calendar day of an instant, as YYYY-MM-DD. */
export function brusselsDay(at: Date): string {
  return dayAround(at).day;
}

/** The instant of 00:00 Brussels time at the start of the given day. */
export function brusselsMidnight(day: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  const utcMidnight = Date.UTC(y, m - 1, d);
  // Brussels is UTC+1 or UTC+2: its offset at that midnight decides the instant.
  const guess = new Date(utcMidnight - 3600_000);
  return new Date(utcMidnight - offsetMinutes(guess) * 60_000);
}

export function nextBrusselsMidnight(at: Date): Date {
  return new Date(dayAround(at).end);
}

export function secondsUntilBrusselsMidnight(at: Date): number {
  return Math.max(1, Math.ceil((nextBrusselsMidnight(at).getTime() - at.getTime()) / 1000));
}

interface DayWindow {
  day: string;
  start: number;
  end: number;
}

/**
 * Intl's time-zone formatting costs tens of microseconds and every query needs the day and its
 * end, so the day last asked about is remembered: an instant inside it is answered at once.
 */
let lastDay: DayWindow | undefined;

function dayAround(at: Date): DayWindow {
  const time = at.getTime();
  if (lastDay && time >= lastDay.start && time < lastDay.end) return lastDay;
  const day = dayFormat.format(at);
  const [y, m, d] = day.split('-').map(Number);
  const tomorrow = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  lastDay = { day, start: brusselsMidnight(day).getTime(), end: brusselsMidnight(tomorrow).getTime() };
  return lastDay;
}

function offsetMinutes(at: Date): number {
  const name = offsetFormat.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return match ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
}
