import type { NextFunction, Request, Response } from 'express';

/**
 * No inline script or style, nothing from elsewhere, never framed: the pages are built so that
 * this policy costs them nothing (styles by class, charts as markup, one script file).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // Not no-referrer: with it a browser sends "Origin: null" on the console's own POSTs.
    'Referrer-Policy': 'same-origin',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
  next();
}

/**
 * A state change must come from the console's own pages: the browser's Origin (sent with every
 * POST) names this very host, or, where a proxy strips it, Fetch Metadata says same-origin. With
 * neither, it is refused: the console is for browsers, the API for scripts.
 */
export function fromOwnOrigin(req: Request): boolean {
  const origin = req.get('origin');
  if (origin !== undefined) return origin === `${req.protocol}://${req.get('host') ?? ''}`;
  return req.get('sec-fetch-site') === 'same-origin';
}
