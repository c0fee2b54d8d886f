import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'staryer-usage', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secrets never reach the log, whatever object a caller hands over.
    redact: {
      paths: ['password', '*.password', 'apiKey', '*.apiKey', 'secret', '*.secret', 'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      censor: '[redacted]',
    },
  });
}
