#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { callAdmin } from './admin-client';
import type { CliContext, RegisterCommands } from './cli-context';
import { registerAllowanceCommands } from './commands/allowances';
import { registerBlockCommands } from './commands/blocks';
import { registerEnterpriseCommands } from './commands/enterprises';
import { registerImportCommands } from './commands/import-kbo';
import { registerJobCommands } from './commands/jobs';
import { registerLogCommands } from './commands/logs';
import { registerSmlCommands } from './commands/sml';

/**
 * hsmp-admin: the operators' terminal for the admin listener. Prints what it did; --json
 * prints the server's answer for scripts; any failure exits 1 with one line on stderr.
 * Each group of commands lives in its own module under commands/ and is added here, in the
 * order `hsmp-admin --help` lists them.
 */
const COMMANDS: RegisterCommands[] = [
  registerImportCommands,
  registerEnterpriseCommands,
  registerBlockCommands,
  registerAllowanceCommands,
  registerLogCommands,
  registerSmlCommands,
  registerJobCommands,
];

const ENVIRONMENT_HELP = `
Environment:
  HSMP_ADMIN_URL    the admin listener (default http://127.0.0.1:9090)
  HSMP_ADMIN_TOKEN  the operator's bearer token (or --token)

Every command that changes something takes --reason TEXT, written to the audit log.
"hsmp-admin help COMMAND" describes a command.`;

/** The package's version (semver), read from the package.json shipped beside dist/. */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

export function buildProgram(print: (line: string) => void = console.log): Command {
  const program = new Command('hsmp-admin')
    .description('Operate hsmp-mtci through its admin listener.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--url <url>', 'admin listener (default: HSMP_ADMIN_URL, else http://127.0.0.1:9090)')
    .option('--token <token>', 'operator bearer token (default: HSMP_ADMIN_TOKEN)')
    .option('--json', 'print the server answer as JSON')
    .addHelpText('afterAll', ENVIRONMENT_HELP)
    .showHelpAfterError('(hsmp-admin --help lists the commands)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const options = () => program.opts<{ url?: string; token?: string; json?: boolean }>();
  const context: CliContext = {
    call: (method, route, body, upload, waitSeconds) =>
      callAdmin(
        { url: options().url ?? process.env.HSMP_ADMIN_URL ?? 'http://127.0.0.1:9090', token: options().token ?? process.env.HSMP_ADMIN_TOKEN },
        method,
        route,
        body,
        upload,
        waitSeconds,
      ),
    out: (result, human) => {
      if (options().json) print(JSON.stringify(result, null, 2));
      else
        human().forEach((line) => {
          print(line);
        });
    },
    withReason: (command) => command.option('--reason <text>', 'why, written to the audit log'),
  };
  for (const register of COMMANDS) register(program, context);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      const code = (error as { code?: string }).code;
      if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
      if (code?.startsWith('commander.')) process.exit(1); // commander already printed its message
      process.stderr.write(`hsmp-admin: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
