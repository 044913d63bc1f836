import { existsSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ConfigError } from '../domain/errors';

/**
 * A concern's settings, each written once: the field of the typed slice, the environment
 * variable it comes from, and its rule (with the default). Nested objects group fields.
 */
export interface SettingsSpec {
  [field: string]: readonly [variable: string, rule: z.ZodType] | SettingsSpec;
}

export type Settings<S extends SettingsSpec> = {
  [K in keyof S]: S[K] extends readonly [string, infer Rule extends z.ZodType] ? z.output<Rule> : S[K] extends SettingsSpec ? Settings<S[K]> : never;
};

/** The variables a spec reads, with their rules, by name (for one zod object and its error paths). */
function variablesOf(spec: SettingsSpec, into: Record<string, z.ZodType> = {}): Record<string, z.ZodType> {
  for (const entry of Object.values(spec)) {
    if (Array.isArray(entry)) into[entry[0] as string] = entry[1] as z.ZodType;
    else variablesOf(entry as SettingsSpec, into);
  }
  return into;
}

function slice(spec: SettingsSpec, parsed: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(spec).map(([field, entry]) => [field, Array.isArray(entry) ? parsed[entry[0] as string] : slice(entry as SettingsSpec, parsed)]),
  );
}

/**
 * A parser from the process environment to the typed slice. A bad value is a ConfigError with
 * a one-line reason naming the variable (and what was given).
 */
export function settings<S extends SettingsSpec>(spec: S): SettingsReader<S> {
  const schema = z.object(variablesOf(spec));
  const read = (env: NodeJS.ProcessEnv) => {
    const result = schema.safeParse(env);
    if (!result.success) {
      const issue = result.error.issues[0];
      const variable = String(issue.path[0] ?? 'configuration');
      const given = env[variable];
      throw new ConfigError(`${variable}: ${issue.message}${given === undefined ? '' : ` (got "${given}")`}`);
    }
    return slice(spec, result.data) as Settings<S>;
  };
  return Object.assign(read, { variables: Object.keys(variablesOf(spec)) });
}

export interface SettingsReader<S extends SettingsSpec> {
  (env: NodeJS.ProcessEnv): Settings<S>;
  /** The variables it reads, by name. */
  variables: string[];
}

export const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a whole port number')
    .min(0, 'expected a port number 0-65535')
    .max(65535, 'expected a port number 0-65535')
    .default(fallback);

export const positiveInt = (fallback: number) =>
  z.coerce.number({ error: 'expected a whole number' }).int('expected a whole number').positive('expected a number above 0').default(fallback);

export const nonNegativeInt = (fallback: number, unit: string) =>
  z.coerce
    .number({ error: `expected ${unit}` })
    .int(`expected whole ${unit}`)
    .min(0, `expected 0 or more ${unit}`)
    .default(fallback);

export const share = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a share between 0 and 1' })
    .min(0, 'expected a share between 0 and 1')
    .max(1, 'expected a share between 0 and 1')
    .default(fallback);

export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const existingFile = optionalText.refine((v) => v === undefined || existsSync(v), { error: 'file not found' });

export const httpsUrl = optionalText.refine((v) => v === undefined || /^https:\/\//.test(v), { error: 'expected an https:// URL' });

export const list = <T extends z.ZodType>(item: T) =>
  optionalText.transform((v, ctx) => {
    const parsed: z.infer<T>[] = [];
    for (const part of (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const result = item.safeParse(part);
      if (!result.success) {
        ctx.addIssue({ code: 'custom', message: `"${part}": ${result.error.issues[0]?.message}` });
        return z.NEVER;
      }
      parsed.push(result.data);
    }
    return parsed;
  });

export const cidr = z.string().transform((value, ctx) => {
  try {
    return value.includes('/')
      ? ipaddr.parseCIDR(value)
      : ([ipaddr.parse(value), ipaddr.parse(value).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an IP address or CIDR' });
    return z.NEVER;
  }
});
