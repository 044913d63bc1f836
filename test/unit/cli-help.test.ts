import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/hsmp-admin';

/** hsmp-admin as other npm tools: --version, and help that describes every command. */
const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'hsmp-admin.js');
const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });

function everyCommand(command: Command, prefix: string[] = []): Array<[string, Command]> {
  return command.commands.flatMap((sub) => {
    const name = [...prefix, sub.name()];
    return [[name.join(' '), sub] as [string, Command], ...everyCommand(sub, name)];
  });
}

describe('hsmp-admin', () => {
  it('--version prints the package version, which is semver', async () => {
    const { version } = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('--help names every command and the two environment variables', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('HSMP_ADMIN_URL');
    expect(help.stdout).toContain('HSMP_ADMIN_TOKEN');
    for (const command of [
      'import-kbo',
      'seed',
      'remove',
      'mark-migrated',
      'restore',
      'blacklist',
      'reactivate',
      'allowance',
      'usage',
      'audit',
      'collections',
      'sml',
    ])
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it("each command's help describes it and names the environment variables", async () => {
    const help = await run(['help', 'collections']);
    expect(help.stdout).toContain('Show the collection log');
    expect(help.stdout).toContain('HSMP_ADMIN_TOKEN');
    const nested = await run(['sml', 'reconcile', '--help']);
    expect(nested.stdout).toContain('HSMP_SML_RECONCILE_MAX_SHARE');
    expect(nested.stdout).toContain('HSMP_ADMIN_URL');
  });

  it('every command and subcommand has a description', () => {
    const commands = everyCommand(buildProgram());
    expect(commands.length).toBeGreaterThan(15);
    const undescribed = commands.filter(([, command]) => command.description().trim() === '').map(([name]) => name);
    expect(undescribed).toEqual([]);
  });

  it('an unknown command exits 1 and points at --help', async () => {
    const result = await run(['bogus']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("unknown command 'bogus'");
    expect(result.stderr).toContain('hsmp-admin --help');
  });
});
