import type { Readable } from 'node:stream';
import { request } from 'undici';

/** A failure to report to the operator in one line (exit 1), as opposed to a bug. */
export class CliError extends Error {}
/** The listener did not answer, or answered 503: following a job tries again. */
export class ListenerTrouble extends CliError {}

export interface Connection {
  url: string;
  token?: string;
}

export interface Upload {
  stream: Readable;
  contentType: string;
}

/**
 * One call of the admin API: the server's JSON answer, or a CliError that says in one line
 * what went wrong (the problem's detail, an unreachable listener, a missing token).
 */
export async function callAdmin(connection: Connection, method: string, path: string, body?: unknown, upload?: Upload, waitSeconds = 0): Promise<any> {
  if (!connection.token) throw new CliError('HSMP_ADMIN_TOKEN is not set (the operator bearer token)');
  let response;
  const contentType = upload ? upload.contentType : body === undefined ? undefined : 'application/json';
  try {
    response = await request(new URL(path, connection.url), {
      method: method as 'GET',
      headers: { authorization: `Bearer ${connection.token}`, accept: 'application/json', ...(contentType ? { 'content-type': contentType } : {}) },
      body: upload ? upload.stream : body === undefined ? undefined : JSON.stringify(body),
      // An upload is answered once the whole dump is in: no time limit on waiting for it. A
      // follower's request is held by the server up to its wait.
      headersTimeout: upload ? 0 : 30_000 + waitSeconds * 1000,
      bodyTimeout: upload ? 0 : 300_000,
    });
  } catch (error) {
    throw new ListenerTrouble(`cannot reach the admin listener at ${connection.url}: ${(error as Error).message}`);
  }
  const text = await response.body.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new CliError(`unexpected answer from ${connection.url} (HTTP ${response.statusCode})`);
  }
  if (response.statusCode >= 400) {
    const Refusal = response.statusCode === 503 ? ListenerTrouble : CliError;
    throw new Refusal(`${parsed.detail ?? parsed.title ?? 'request refused'} (HTTP ${response.statusCode})`);
  }
  return parsed;
}
