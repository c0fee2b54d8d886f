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
