import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * An error as logged, without the parameters of a failed query: drizzle's query errors put
 * them in their message ("Failed query: … params: …", the stack too) and in `params`, and
 * some statements carry secrets as parameters (token signing secrets, webhook secrets and
 * URLs, CSRF secrets). The query's text stays: it names the statement, never a value.
 */
function serializeError(error: unknown): unknown {
  return scrubQueryParams(error instanceof Error ? pino.stdSerializers.err(error) : error);
}

function scrubQueryParams(serialized: unknown, depth = 0): unknown {
  if (!serialized || typeof serialized !== 'object' || depth > 8) return serialized;
  const out: Record<string, unknown> = { ...(serialized as Record<string, unknown>) };
  if ('params' in out) out.params = '[redacted]';
  for (const key of ['message', 'stack'] as const) {
    const text = out[key];
    // Up to the stack's first frame, or the end.
    if (typeof text === 'string') out[key] = text.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, '\nparams: [redacted]');
  }
  if (out.cause) out.cause = scrubQueryParams(out.cause, depth + 1);
  return out;
}

/** `destination`: where the JSON lines go (default stdout); tests pass a stream to scan the log. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'staryer-usage', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secrets never reach the log, whatever object a caller hands over.
    redact: {
      paths: ['password', '*.password', 'apiKey', '*.apiKey', 'secret', '*.secret', 'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      censor: '[redacted]',
    },
    serializers: { err: serializeError, error: serializeError },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A defect nothing caught (an exception or a rejection) leaves the process in a state
 * nobody planned for: it is logged as fatal, with its stack, and `stop(1)` is called (the
 * caller's orderly shutdown: answers in flight, workers, Postgres), for a supervisor to
 * restart the process. Node's default would print to stderr and exit at once, leaving an
 * embedded Postgres running and dropping every request in flight.
 */
export function stopOnUnhandledErrors(log: Logger, stop: (code: number) => void): void {
  const crash = (origin: string) => (error: unknown) => {
    log.fatal({ err: error, origin }, `stopping: an error nothing handled (${origin})`);
    stop(1);
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));
}
