/** A backoff schedule: listed waits (± jitter), then a random wait in `tailMs`. */
export type RetrySchedule = { delaysMs: number[]; tailMs: [number, number]; jitter: number };

/** Delay before the attempt after `attempts` failed ones, on `schedule`. */
export function backoffDelayMs(schedule: RetrySchedule, attempts: number, random: () => number = Math.random): number {
  const listed = schedule.delaysMs[attempts - 1];
  if (listed !== undefined) return Math.round(listed * (1 + schedule.jitter * (2 * random() - 1)));
  const [min, max] = schedule.tailMs;
  return Math.round(min + (max - min) * random());
}
