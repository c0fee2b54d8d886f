import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

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
