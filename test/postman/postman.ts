import { Command } from 'commander';
import path from 'node:path';
import { FOLDERS, ROOT, runCollection } from './collection-runner';

/**
 * `npm run postman -- --base URL …`: the Postman collection against a running test deployment
 * (one that trusts the development PKI and holds dataset 1, as `npm start` does), each folder
 * with the client certificate it names. Exit 0 when every assertion passed.
 */
const program = new Command('npm run postman --')
  .description('Run the Postman collection against a running deployment, each folder with its client certificate.')
  .requiredOption('--base <url>', 'the public listener, e.g. https://localhost:8443')
  .option('--admin <url>', 'the admin listener (default: HSMP_ADMIN_URL, else http://127.0.0.1:9090)')
  .option('--token <token>', 'an operator token, for reconciliation and lifting the block of folder 4 (default: HSMP_ADMIN_TOKEN)')
  .option('--sml <url>', "the development SML the new SMP calls in folder 5.2 (default: https://localhost:HSMP_DEV_SML_PORT, else 8890)")
  .option('--certs <dir>', 'the development PKI the deployment trusts (default: HSMP_DEV_PKI_DIR, else certs/dev)')
  .option('--environments <list>', 'the environments the deployment serves (HSMP_ENVIRONMENTS; default: test, as npm start)', 'test')
  .option('--folder <prefix...>', 'run only the folders whose names start with these, e.g. 1 3.2 5')
  .addHelpText(
    'after',
    `\nFolders, in the order they run (folder 4 uses up the production AP seat's quota for today, then lifts its block):\n${FOLDERS.map(([name, certificate]) => `  ${name}  [${certificate}]`).join('\n')}`,
  )
  .parse();

const options = program.opts<{ base: string; admin?: string; token?: string; sml?: string; certs?: string; environments: string; folder?: string[] }>();
const token = options.token ?? process.env.HSMP_ADMIN_TOKEN;
if (!token) {
  console.error('npm run postman: an operator token is needed (--token or HSMP_ADMIN_TOKEN): folder 5.3 reconciles and folder 4 lifts a block');
  process.exit(1);
}

runCollection(
  {
    baseUrl: options.base.replace(/\/+$/, ''),
    adminUrl: options.admin ?? process.env.HSMP_ADMIN_URL ?? 'http://127.0.0.1:9090',
    adminToken: token,
    smlUrl: options.sml ?? `https://localhost:${process.env.HSMP_DEV_SML_PORT ?? '8890'}`,
    pkiDir: path.resolve(ROOT, options.certs ?? process.env.HSMP_DEV_PKI_DIR ?? path.join('certs', 'dev')),
    servedEnvironments: options.environments,
  },
  options.folder,
).then(
  (failures) => {
    console.log(failures === 0 ? '\npostman: every request of the collection passed' : `\npostman: ${failures} failure(s)`);
    process.exit(failures === 0 ? 0 : 1);
  },
  (error: unknown) => {
    console.error(`npm run postman: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
