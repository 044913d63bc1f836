import { execFile } from 'node:child_process';
import path from 'node:path';
import type { TestService } from './service';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'hsmp-admin.js');

/** Runs the real hsmp-admin binary against a test service's admin listener. */
export function hsmpAdmin(service: TestService, args: string[], token = service.operatorToken): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, HSMP_ADMIN_URL: service.adminUrl, HSMP_ADMIN_TOKEN: token }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
