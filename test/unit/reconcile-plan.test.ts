import { EnterpriseNumberSet } from '../../src/domain/enterprise-number-set';
import { decideShare, ReconcilePlan } from '../../src/sml/reconcile-plan';
import { readListing, SmlListingInvalid } from '../../src/sml/listing';
import type { SmlClient } from '../../src/sml/client';
import { SmlHealth } from '../../src/sml/preparer';
import { createLogger } from '../../src/log';
import { withCheckDigits } from '../../src/participants/participant-id';

/** The reconciliation's plan and listing without servers (SPEC §9). */
const numbers = Array.from({ length: 1000 }, (_, i) => withCheckDigits(String(3_000_000 + i).padStart(8, '0')));
const rule = { maxShare: 0.1, windowHours: 24, force: false };

describe('the plan: listed against prepared', () => {
  it('finds the prepared keys the listing no longer shows, page by page', () => {
    const listed = new EnterpriseNumberSet();
    for (const n of numbers.slice(0, 990)) listed.addOnce(n);
    const plan = new ReconcilePlan(listed);
    expect(plan.consider(numbers.slice(0, 500))).toEqual([]);
    expect(plan.consider(numbers.slice(500))).toEqual(numbers.slice(990));
    expect({ prepared: plan.prepared, missing: plan.missing }).toEqual({ prepared: 1000, missing: 10 });
    expect(plan.decide(rule, 0)).toEqual({ refused: false, windowMarked: 0, share: 0.01 });
  });

  it('an empty listing would mark everyone: refused, unless forced', () => {
    const plan = new ReconcilePlan(new EnterpriseNumberSet());
    plan.consider(numbers);
    expect(plan.decide(rule, 0).refused).toBe(true);
    expect(plan.decide({ ...rule, force: true }, 0).refused).toBe(false);
  });
});

describe('the share valve over a window', () => {
  it('a run under the share alone is refused when the window already lost most of it', () => {
    // 9 % now, after 9 % an hour ago: 18 of 100 within 24 h.
    expect(decideShare({ prepared: 91, missing: 9, windowMarked: 9 }, rule)).toMatchObject({ refused: true, windowMarked: 9 });
    expect(decideShare({ prepared: 91, missing: 9, windowMarked: 0 }, rule)).toMatchObject({ refused: false });
  });

  it('at the share exactly is allowed; a run that marks nothing is never refused', () => {
    expect(decideShare({ prepared: 95, missing: 5, windowMarked: 5 }, rule).refused).toBe(false);
    expect(decideShare({ prepared: 50, missing: 0, windowMarked: 50 }, rule).refused).toBe(false);
    expect(decideShare({ prepared: 0, missing: 0, windowMarked: 0 }, rule)).toEqual({ refused: false, windowMarked: 0, share: 0 });
  });
});

describe('the listing', () => {
  const health = new SmlHealth(createLogger('silent'));
  /** An SML whose pages are given by a function of the page asked. */
  const sml = (pageOf: (asked: string | undefined) => { participants: string[]; nextPageIdentifier?: string }) =>
    ({ list: (_smpId: string, asked?: string) => Promise.resolve(pageOf(asked)) }) as unknown as SmlClient;
  const options = { smpId: 'HSMP', environment: 'test' as const, health, maxPages: 100, maxPageBytes: 1024 * 1024 };
  const byPage = (page: number) => numbers.slice(page * 50, page * 50 + 50).map((n) => `0208:${n}`);

  it('reads every page into the set, counting each participant once and only Belgian ones', async () => {
    const progress: number[] = [];
    const listing = await readListing(
      sml((asked) => {
        const page = Number(asked ?? 0);
        const participants = [...byPage(page), `0208:${numbers[0]}`, `9925:BE0${numbers[1]}`];
        return page < 19 ? { participants, nextPageIdentifier: String(page + 1) } : { participants };
      }),
      { ...options, onPage: (p) => progress.push(p.pages) },
    );
    expect({ pages: listing.pages, listed: listing.listed }).toEqual({ pages: 20, listed: 1000 });
    expect(numbers.every((n) => listing.participants.has(n))).toBe(true);
    expect(progress).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('catches page ids going round in a circle (A, B, A) by remembering them, with a clear problem', async () => {
    const cycle = readListing(
      sml((asked) => ({ participants: byPage(0), nextPageIdentifier: asked === 'A' ? 'B' : 'A' })),
      options,
    );
    await expect(cycle).rejects.toThrow(SmlListingInvalid);
    await expect(cycle).rejects.toThrow(/repeated page A after 3 pages; nothing was changed/);
  });

  it('bounds the pages by what the enterprises can fill, and page ids by their length', async () => {
    let n = 0;
    await expect(
      readListing(
        sml(() => ({ participants: [], nextPageIdentifier: String(++n) })),
        options,
      ),
    ).rejects.toThrow(/more than 100 pages/);
    await expect(
      readListing(
        sml(() => ({ participants: [], nextPageIdentifier: 'x'.repeat(200) })),
        options,
      ),
    ).rejects.toThrow(/next page of 200 characters/);
  });

  it('stops between pages when told to', async () => {
    const controller = new AbortController();
    let pages = 0;
    const listing = readListing(
      sml(() => {
        if (++pages === 3) controller.abort(new Error('shutdown'));
        return { participants: [], nextPageIdentifier: String(pages) };
      }),
      { ...options, signal: controller.signal },
    );
    await expect(listing).rejects.toThrow('shutdown');
    expect(pages).toBe(3);
  });
});
