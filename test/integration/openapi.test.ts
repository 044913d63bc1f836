import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { request } from 'undici';
import { ADMIN_PREFIX, OPENAPI_DOCUMENT, createAdminApp } from '../../src/admin/admin-app';
import { MIGRATION_KEY_PATH } from '../../src/http/public-app';
import { closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';
import { HSMP_ERRORS } from '../../src/domain/errors';

/** The OpenAPI document describes every route the server mounts, and what they answer. */
const doc = JSON.parse(readFileSync(OPENAPI_DOCUMENT, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: 'openapi' });
const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validatorFor = (path: string, method: string, status: string, contentType: string) =>
  ajv.compile({ $ref: `openapi#/${pointer('paths', path, method, 'responses', status, 'content', contentType, 'schema')}` });

let service: TestService;
beforeAll(async () => {
  service = await startTestService();
  await seed(service);
});
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

/** Routes mounted on the admin app, as OpenAPI paths: walks express's own route table. */
function mountedAdminRoutes(): Array<[string, string]> {
  const app = createAdminApp({
    config: service.env as never,
    database: service.database,
    counters: service.counters,
    operations: {} as never,
    jobs: {} as never,
    metrics: {} as never,
    logger: {} as never,
  }) as unknown as {
    router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }> };
  };
  const routes: Array<[string, string]> = [];
  const walk = (stack: typeof app.router.stack, prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) routes.push([prefix + layer.route.path.replace(/:(\w+)/g, '{$1}'), method]);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack as typeof app.router.stack, ADMIN_PREFIX);
      }
    }
  };
  walk(app.router.stack, '');
  return routes;
}

describe('OpenAPI document', () => {
  it('names every error code of the public route', () => {
    const route = JSON.stringify(doc.paths['/hermes-rw/migrationKey/{participantId}']);
    const missing = Object.keys(HSMP_ERRORS).filter((code) => !new RegExp(`\\b${code}\\b`).test(route));
    expect(missing).toEqual([]);
  });

  it('is served on the admin listener and is the file in the repository', async () => {
    const response = await request(`${service.adminUrl}/openapi.json`);
    expect(await response.body.json()).toEqual(doc);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('describes every route the admin listener mounts, and nothing it does not', () => {
    const mounted = mountedAdminRoutes();
    expect(mounted.length).toBeGreaterThan(15);
    for (const [path, method] of mounted) expect({ path, method, described: Boolean(doc.paths[path]?.[method]) }).toEqual({ path, method, described: true });
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => [path, m]));
    const publicOnes = described.filter(([path]) => path.startsWith('/hermes-rw/'));
    expect(publicOnes).toEqual([
      ['/hermes-rw/migrationKey/{participantId}', 'get'],
      ['/hermes-rw/migrationKey/{participantId}', 'head'],
    ]);
    expect(MIGRATION_KEY_PATH.test('/hermes-rw/migrationKey/0208:0200065765')).toBe(true);
    expect(described.filter(([path]) => !path.startsWith('/hermes-rw/')).sort()).toEqual(mounted.map(([p, m]) => [p, m]).sort());
  });

  it('every example validates against its schema', () => {
    let checked = 0;
    for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        for (const [status, response] of Object.entries<any>(op.responses)) {
          for (const [contentType, content] of Object.entries<any>(response.content ?? {})) {
            if (content.example === undefined) continue;
            const validate = validatorFor(path, method, status, contentType);
            expect({ path, method, status, contentType, valid: validate(content.example), errors: validate.errors ?? null }).toMatchObject({ valid: true });
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('live answers validate against the documented schemas', async () => {
    const live: Array<[string, string, string, string, unknown]> = [];
    const admin = async (method: string, path: string, docPath: string, body?: unknown) => {
      const r = await service.admin(method, path, body);
      live.push([docPath, method.toLowerCase(), String(r.status), String(r.headers['content-type']).split(';')[0], r.json()]);
    };
    await admin('GET', '/admin/blocks', '/admin/blocks');
    await admin('GET', '/admin/usage', '/admin/usage');
    await admin('GET', '/admin/allowances', '/admin/allowances');
    await admin('POST', '/admin/seed', '/admin/seed', { datasets: 1 });
    await admin('GET', '/admin/enterprises/1900110036', '/admin/enterprises/{number}');
    await admin('POST', '/admin/enterprises/1900110135/remove', '/admin/enterprises/{number}/remove', { reason: 'openapi test' });
    await admin('GET', '/admin/audit', '/admin/audit');
    await admin('GET', '/admin/collections', '/admin/collections');
    await admin('GET', '/admin/enterprises/0200065765', '/admin/enterprises/{number}');
    const job = await service.admin('POST', '/admin/sml/reconcile', { environment: 'test', force: true, reason: 'openapi test' });
    live.push(['/admin/sml/reconcile', 'post', String(job.status), 'application/json', job.json()]);
    await admin('GET', `/admin/jobs/${job.json().id}?wait=20`, '/admin/jobs/{id}');
    await admin('GET', '/admin/jobs', '/admin/jobs');
    const ok = await service.get('/hermes-rw/migrationKey/1900110036', { accept: 'application/json' });
    live.push(['/hermes-rw/migrationKey/{participantId}', 'get', String(ok.status), 'application/json', ok.json()]);
    const refused = await service.get('/hermes-rw/migrationKey/1900120033', { accept: 'application/json' });
    live.push(['/hermes-rw/migrationKey/{participantId}', 'get', String(refused.status), 'application/problem+json', refused.json()]);
    for (const [path, method, status, contentType, body] of live) {
      const validate = validatorFor(path, method, status, contentType);
      expect({ path, status, valid: validate(body), errors: validate.errors ?? null }).toMatchObject({ valid: true });
    }
  });
});
