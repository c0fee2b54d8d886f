import type { Auth } from '../context.js';
import { AppError, forbidden, toAppError, validationError } from '../errors.js';
import { ZCheckInput, ZTrackBatchInput, ZTrackEvent, type TBatchResponse, type TCheckResult, type TTrackedEvent } from '../schemas/usage.js';
import type { Runtime } from '../runtime.js';
import { prepareEvent, type EventOutcome, type PreparedEvent } from '../services/ingest.js';
import { requireTokenUser } from '../services/tokens.js';
import { checkUsage, trackEvents } from '../services/usage.js';
import { refuseDuplicateKeys } from './json-keys.js';
import { findAlteredNumbers, restoreAlteredNumbers } from './json-numbers.js';
import { toProblem } from './problem.js';
import { parseInput, queryObject, zodFieldErrors } from './validation.js';

type TrackAuth = Extract<Auth, { kind: 'session' | 'api_key' | 'user_token' }>;

/** Validates one event of a request; a browser token may only track its own user. */
function judge(auth: TrackAuth, raw: unknown, headerKey?: string): PreparedEvent | AppError {
  const parsed = ZTrackEvent.safeParse(raw);
  if (!parsed.success) return validationError(zodFieldErrors(parsed.error.issues));
  if (auth.kind === 'user_token' && parsed.data.user_id !== auth.userId) {
    return forbidden('This token may only track and check usage for its own user_id.');
  }
  return prepareEvent(parsed.data, headerKey);
}

/** Counts a request's events by outcome on /metrics: one increment per distinct outcome, not per event. */
function countOutcomes(rt: Runtime, outcomes: string[]) {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  for (const [outcome, n] of counts) rt.metrics.ingest.events.inc({ outcome }, n);
}

const outcomeOf = (outcome: EventOutcome) => (!outcome.ok ? outcome.error.code : outcome.replayed ? 'replayed' : 'accepted');

/** One event: 201 with the event and usage once committed, or the error. Shared by REST and tRPC. */
export async function trackOne(rt: Runtime, auth: TrackAuth, raw: unknown, headerKey?: string): Promise<{ body: TTrackedEvent; replayed: boolean }> {
  const prepared = judge(auth, raw, headerKey);
  if (prepared instanceof AppError) {
    countOutcomes(rt, [prepared.code]);
    throw prepared;
  }
  const [outcome] = await trackEvents(rt, auth.creatorId, [prepared]).catch((error: unknown) => {
    countOutcomes(rt, [toAppError(error).code]);
    throw error;
  });
  countOutcomes(rt, [outcomeOf(outcome!)]);
  if (!outcome!.ok) throw outcome!.error;
  return { body: outcome!.body, replayed: outcome!.replayed };
}

/** A batch: every event judged on its own, in order, with the status it would get alone. */
export async function trackMany(rt: Runtime, auth: TrackAuth, raw: unknown, requestId?: string): Promise<TBatchResponse> {
  const batch = ZTrackBatchInput.safeParse(raw);
  if (!batch.success) throw validationError(zodFieldErrors(batch.error.issues));
  const judged = batch.data.map((item) => judge(auth, item));
  const valid = judged.filter((j): j is PreparedEvent => !(j instanceof AppError));
  const outcomes =
    valid.length === 0
      ? []
      : await trackEvents(rt, auth.creatorId, valid).catch((error: unknown) => {
          // The whole request fails (503): every event of it, as its client sees it.
          const code = toAppError(error).code;
          countOutcomes(rt, judged.map(() => code));
          throw error;
        });
  countOutcomes(rt, [...judged.filter((j): j is AppError => j instanceof AppError).map((j) => j.code), ...outcomes.map(outcomeOf)]);
  let next = 0;
  return {
    results: judged.map((j, index) => {
      if (j instanceof AppError) return { index, status: j.status, error: toProblem(j, requestId) };
      const outcome = outcomes[next++]!;
      if (!outcome.ok) return { index, status: outcome.error.status, error: toProblem(outcome.error, requestId) };
      return { index, status: 201, id: outcome.body.id, ...(outcome.replayed ? { replayed: true } : {}), event: outcome.body };
    }),
  };
}

/**
 * `GET /api/usage/check`, served directly: the same schema and service as tRPC's
 * `usage.check`, without going through the tRPC caller (its middleware chain and output
 * validation cost more Node CPU than the check's one round trip to Postgres).
 */
export async function checkOne(rt: Runtime, auth: TrackAuth, query: URLSearchParams): Promise<TCheckResult> {
  const { properties, ...given } = queryObject(query);
  const input = parseInput(ZCheckInput, properties === undefined ? given : { ...given, properties: propertiesFromQuery(properties) });
  if (auth.kind === 'user_token') requireTokenUser(auth, input.user_id);
  return checkUsage(rt, auth.creatorId, input);
}

/**
 * The check's `properties` query parameter: the JSON text of the object an event would carry,
 * read as a track body's `properties` is (a number a double would change is refused there, not
 * rounded into another distinct value), and a key written twice is refused, naming it. JSON.parse
 * first: one JSON value and nothing after it.
 */
function propertiesFromQuery(text: string): unknown {
  try {
    JSON.parse(text);
  } catch {
    throw validationError([{ field: 'properties', message: 'must be the JSON text of an object, URL-encoded (as an event’s properties)' }]);
  }
  const wrapped = `{"properties":${text}}`;
  const value = JSON.parse(wrapped) as { properties: unknown };
  refuseDuplicateKeys(wrapped, value);
  const altered = findAlteredNumbers(wrapped);
  return (altered.length === 0 ? value : (restoreAlteredNumbers(wrapped, altered) as { properties: unknown })).properties;
}
