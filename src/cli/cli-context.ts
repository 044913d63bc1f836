import { InvalidArgumentError, type Command } from 'commander';
import type { Upload } from './admin-client';

/**
 * What every command module gets: a way to call the admin API as the current operator and to
 * print a result (the server's JSON with --json, else the lines the command makes of it).
 * Each module adds its commands with `register(program, context)`.
 */
export interface CliContext {
  /** `waitSeconds`: how long the server may hold the request (a job follower's long poll). */
  call(method: string, path: string, body?: unknown, upload?: Upload, waitSeconds?: number): Promise<any>;
  out(result: unknown, human: () => string[]): void;
  /** Adds `--reason TEXT` (written to the audit log) to a command that changes something. */
  withReason(command: Command): Command;
}

export type RegisterCommands = (program: Command, context: CliContext) => void;

export const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
};

export const environment = (value: string): string => {
  if (value !== 'test' && value !== 'production') throw new InvalidArgumentError('expected test or production');
  return value;
};

export const isoInstant = (value: string): string => {
  if (Number.isNaN(Date.parse(value)) || !/T.*(Z|[+-]\d{2}:?\d{2})$/.test(value))
    throw new InvalidArgumentError('expected an ISO 8601 instant with a zone, e.g. 2026-12-01T00:00:00+01:00');
  return new Date(value).toISOString();
};
