import pino from 'pino';

/**
 * JSON logs. Migration keys never reach a log line: the service never passes one to the
 * logger, and these paths are redacted as a second line of defence.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): pino.Logger {
  return pino(
    {
      level,
      base: { service: 'hsmp-mtci' },
      redact: {
        paths: ['migrationKey', '*.migrationKey', 'key', '*.key', 'req.headers.authorization', 'req.headers["x-ssl-client-cert"]'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type Logger = pino.Logger;
