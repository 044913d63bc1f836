import { parse as parseCookies } from 'cookie';
import express, { type NextFunction, type Request, type Response } from 'express';
import type pg from 'pg';
import type { AdminOperator } from '../config/config';
import { ServiceError } from '../domain/errors';
import type { Logger } from '../log';
import { parseInput, type OperatorService } from '../operations';
import type { JobOperations } from '../operations/jobs';
import { CONSOLE_CSS, CONSOLE_ICON, loadConsoleScript } from './assets';
import { CONSOLE_PREFIX, errorPage, signInPage } from './layout';
import { blocksPage } from './pages/blocks';
import { enterprisePage } from './pages/enterprise';
import { logsPage, sendLogCsv } from './pages/logs';
import { dataPage, jobPage } from './pages/data';
import { overviewPage } from './pages/overview';
import { fromOwnOrigin, securityHeaders } from './security';
import { ConsoleSessions, csrfTokenMatches, DEFAULT_SESSION_LIFETIME, type SessionLifetime } from './sessions';
import { consoleActions } from './actions';
import { pageContext, sessionOf, type ConsoleLocals } from './request';

export { CONSOLE_PREFIX };
export const SESSION_COOKIE = 'hsmp_console';

export interface ConsoleOptions {
  pool: pg.Pool;
  operators: readonly AdminOperator[];
  operations: OperatorService;
  jobs: JobOperations;
  logger: Logger;
  lifetime?: SessionLifetime;
}

/**
 * The operator console (SPEC §4.1), an express application of its own for the admin listener:
 * `/` leads to it, CONSOLE_PREFIX serves it, and anything else passes on to the admin API. Pages
 * rendered on the server from the same operator use cases as the admin API, behind a session
 * that an operator token opens. Every state change is a POST from the console's own origin with
 * the session's synchronizer token, and asks for a reason.
 */
export function createConsole(options: ConsoleOptions): express.Express {
  const sessions = new ConsoleSessions(options.pool, options.operators, options.lifetime ?? DEFAULT_SESSION_LIFETIME);
  const script = loadConsoleScript();
  const router = express.Router();
  router.use(securityHeaders);

  const asset = (type: string, body: string | Buffer) => (_req: Request, res: Response) => {
    res.set('Cache-Control', 'public, max-age=86400').type(type).send(body);
  };
  router.get('/assets/console.css', asset('text/css', CONSOLE_CSS));
  router.get('/assets/console.js', asset('text/javascript', script));
  router.get('/assets/icon.svg', asset('image/svg+xml', CONSOLE_ICON));

  const cookieOptions = (req: Request) =>
    ({ httpOnly: true, sameSite: 'strict', secure: req.secure, path: CONSOLE_PREFIX, maxAge: sessions.lifetime.absoluteSeconds * 1000 }) as const;

  router.get('/sign-in', (_req, res) => {
    res.type('html').send(signInPage());
  });
  router.post('/sign-in', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    if (!fromOwnOrigin(req)) {
      res.status(403).type('html').send(errorPage(403, 'a sign-in must come from the console’s own page'));
      return;
    }
    const token = (req.body as Record<string, unknown> | undefined)?.token;
    const signedIn = typeof token === 'string' ? await sessions.signIn(token) : undefined;
    if (!signedIn) {
      res.status(401).type('html').send(signInPage('That token belongs to no operator.'));
      return;
    }
    res.cookie(SESSION_COOKIE, signedIn.cookieValue, cookieOptions(req));
    res.redirect(303, `${CONSOLE_PREFIX}/`);
  });

  // Everything below needs a live session.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const cookieValue = parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE];
    const session = await sessions.resolve(cookieValue, req.method === 'GET');
    if (!session) {
      if (cookieValue) res.clearCookie(SESSION_COOKIE, { path: CONSOLE_PREFIX });
      if (req.method === 'GET') {
        res.redirect(303, `${CONSOLE_PREFIX}/sign-in`);
        return;
      }
      res
        .status(401)
        .type('html')
        .send(errorPage(401, cookieValue ? 'your session has ended: sign in again' : 'sign in first'));
      return;
    }
    (res.locals as ConsoleLocals).session = session;
    if (req.method !== 'GET' && req.method !== 'HEAD' && !fromOwnOrigin(req)) {
      res.status(403).type('html').send(errorPage(403, 'a change must come from the console’s own pages'));
      return;
    }
    next();
  });

  // The CBE dump arrives as the raw file (streamed into the import), its token in a header.
  const csrfChecked = (presented: (req: Request) => unknown) => (req: Request, res: Response, next: NextFunction) => {
    if (!csrfTokenMatches(sessionOf(res), presented(req))) {
      res.status(403).type('html').send(errorPage(403, 'this form is out of date or not the console’s own: reload the page and try again'));
      return;
    }
    next();
  };
  const actions = consoleActions({ operations: options.operations, jobs: options.jobs, sessions, logger: options.logger });
  router.post(
    '/data/import',
    csrfChecked((req) => req.get('x-csrf-token')),
    actions.importDump,
  );

  router.use(express.urlencoded({ extended: false, limit: '16kb' }));
  router.post(
    /.*/,
    csrfChecked((req) => (req.body as Record<string, unknown> | undefined)?._csrf),
  );

  router.get('/', async (req, res) => {
    res.type('html').send(await overviewPage(pageContext(req, res), options.operations, await options.jobs.list(20)));
  });
  router.get('/blocks', async (req, res) => {
    res.type('html').send(await blocksPage(pageContext(req, res), options.operations));
  });
  router.get('/enterprise', async (req, res) => {
    const asked = typeof req.query.number === 'string' ? req.query.number : undefined;
    const { status, page } = await enterprisePage(pageContext(req, res), options.operations, asked);
    res.status(status).type('html').send(page);
  });
  router.get('/logs', async (req, res) => {
    const { status, page } = await logsPage(pageContext(req, res), options.operations, req.query);
    res.status(status).type('html').send(page);
  });
  router.get('/logs.csv', async (req, res) => {
    const refused = await sendLogCsv(res, options.operations, req.query, options.logger);
    if (refused) res.status(refused.status).type('html').send(errorPage(refused.status, refused.message));
  });
  router.get('/data', async (req, res) => {
    res.type('html').send(await dataPage(pageContext(req, res), options.operations, await options.jobs.list(20)));
  });
  router.get('/data/jobs/:id', async (req, res) => {
    const job = await options.jobs.get(parseInput('jobId', req.params.id), { wait: 0 });
    res.type('html').send(jobPage(pageContext(req, res), job));
  });
  router.post('/sign-out', async (_req, res) => {
    await sessions.signOut(sessionOf(res));
    res.clearCookie(SESSION_COOKIE, { path: CONSOLE_PREFIX });
    res.redirect(303, `${CONSOLE_PREFIX}/sign-in`);
  });
  actions.mount(router);

  router.use((_req: Request, res: Response) => {
    res.status(404).type('html').send(errorPage(404, 'no such console page'));
  });
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof ServiceError && (error.status < 500 || error.status === 503)) {
      res.status(error.status).type('html').send(errorPage(error.status, error.message));
      return;
    }
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 413 || status === 415) {
      res
        .status(status)
        .type('html')
        .send(errorPage(status, (error as Error).message));
      return;
    }
    options.logger.error({ err: error }, 'console request failed');
    res.status(500).type('html').send(errorPage(500, 'the console could not do that; the service log says why'));
  });
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => {
    res.redirect(302, `${CONSOLE_PREFIX}/`);
  });
  app.use(CONSOLE_PREFIX, router);
  return app;
}
