import type { RevocationResponder } from '../../src/dev/revocation-responder';

export default async function globalTeardown(): Promise<void> {
  await ((globalThis as Record<string, unknown>).hsmpTestResponder as RevocationResponder | undefined)?.close();
}
