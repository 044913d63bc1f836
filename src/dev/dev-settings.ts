import path from 'node:path';
import { z } from 'zod';
import { nonNegativeInt, port, settings } from '../config/settings';

/** The development deployment's own variables; a production deployment never reads them. */
export const readDevSettings = settings({
  pkiDir: [
    'HSMP_DEV_PKI_DIR',
    z
      .string()
      .default('./certs/dev')
      .transform((dir) => path.resolve(dir)),
  ],
  revocationPort: ['HSMP_DEV_REVOCATION_PORT', port(8889)],
  smlPort: ['HSMP_DEV_SML_PORT', port(8890)],
  /** Added to every answer of the development SML (benchmarks, tests). */
  smlDelayMs: ['HSMP_DEV_SML_DELAY_MS', nonNegativeInt(0, 'milliseconds')],
});

export type DevSettings = ReturnType<typeof readDevSettings>;
