/**
 * Where each operation lives on the admin listener: mounted from here by the admin API and
 * called from here by `hsmp-admin`, so the two cannot drift apart. `{name}` marks a path parameter.
 */
export const ADMIN_PREFIX = '/admin';

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
}

export const ROUTES = {
  blocks: { method: 'GET', path: '/admin/blocks' },
  reactivate: { method: 'POST', path: '/admin/blocks/reactivate' },
  allowances: { method: 'GET', path: '/admin/allowances' },
  grantAllowance: { method: 'POST', path: '/admin/allowances' },
  revokeAllowance: { method: 'DELETE', path: '/admin/allowances/{id}' },
  usage: { method: 'GET', path: '/admin/usage' },
  health: { method: 'GET', path: '/admin/health' },
  enterprise: { method: 'GET', path: '/admin/enterprises/{number}' },
  removeEnterprise: { method: 'POST', path: '/admin/enterprises/{number}/remove' },
  markEnterpriseMigrated: { method: 'POST', path: '/admin/enterprises/{number}/mark-migrated' },
  restoreEnterprise: { method: 'POST', path: '/admin/enterprises/{number}/restore' },
  revokeKey: { method: 'POST', path: '/admin/enterprises/{number}/revoke-key' },
  seed: { method: 'POST', path: '/admin/seed' },
  importKbo: { method: 'POST', path: '/admin/import/kbo' },
  auditLog: { method: 'GET', path: '/admin/audit' },
  collectionLog: { method: 'GET', path: '/admin/collections' },
  smlReconcile: { method: 'POST', path: '/admin/sml/reconcile' },
  smlPrepare: { method: 'POST', path: '/admin/sml/prepare' },
  jobs: { method: 'GET', path: '/admin/jobs' },
  job: { method: 'GET', path: '/admin/jobs/{id}' },
} as const satisfies Record<string, Route>;

/** The route's path below ADMIN_PREFIX in express's notation (`:name`). */
export function mountPath(route: Route): string {
  return route.path.slice(ADMIN_PREFIX.length).replace(/\{(\w+)\}/g, ':$1');
}

/** The route's path with its parameters filled in (URL-encoded) and an optional query. */
export function pathOf(route: Route, params: Record<string, string> = {}, query?: URLSearchParams): string {
  const filled = route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
  const search = query?.toString();
  return search ? `${filled}?${search}` : filled;
}
