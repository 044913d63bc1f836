import { parseList } from 'structured-headers';
import { rateLimitFields } from '../../src/http/rate-limit-fields';

describe('rateLimitFields', () => {
  it('writes the current draft structured fields and the three legacy fields with the same figures', () => {
    expect(rateLimitFields({ limit: 1000, remaining: 958, resetSeconds: 30512 })).toEqual({
      'RateLimit-Policy': '"daily";q=1000;w=86400',
      RateLimit: '"daily";r=958;t=30512',
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '958',
      'RateLimit-Reset': '30512',
    });
  });

  it('never announces a negative remainder (the query that exceeded the quota)', () => {
    const fields = rateLimitFields({ limit: 5, remaining: -1, resetSeconds: 60 });
    expect([fields.RateLimit, fields['RateLimit-Remaining']]).toEqual(['"daily";r=0;t=60', '0']);
  });

  it('is valid structured-field syntax: a list of one "daily" item with integer parameters', () => {
    const fields = rateLimitFields({ limit: 250000, remaining: 3, resetSeconds: 90000 });
    const [[policyName, policy]] = parseList(fields['RateLimit-Policy']);
    const [[limitName, limit]] = parseList(fields.RateLimit);
    expect([policyName, Object.fromEntries(policy)]).toEqual(['daily', { q: 250000, w: 86400 }]);
    expect([limitName, Object.fromEntries(limit)]).toEqual(['daily', { r: 3, t: 90000 }]);
  });
});
