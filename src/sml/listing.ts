import type { Environment } from '../domain/environment';
import { EnterpriseNumberSet } from '../domain/enterprise-number-set';
import { ServiceError } from '../domain/errors';
import { parseParticipantId } from '../participants/participant-id';
import type { SmlClient } from './client';
import { classifySmlError, type SmlHealth } from './preparer';

/**
 * Reads this SMP's participants from the SML (List, paged with NextPageIdentifier) into a bit
 * set of enterprise numbers: memory does not grow with the listing beyond the set (2.5 MB) and
 * the page identifiers seen, which are remembered so that a listing going round in a circle
 * (A, B, A, B) is caught on its first repeat rather than by a page cap.
 */
export interface ListingProgress {
  pages: number;
  /** Distinct Belgian participants listed so far. */
  listed: number;
}

export interface Listing extends ListingProgress {
  participants: EnterpriseNumberSet;
}

export interface ListingOptions {
  smpId: string;
  environment: Environment;
  health: SmlHealth;
  /**
   * More pages than this is nonsense: every page but the last carries a participant, so the
   * enterprises hsmp holds (plus room for other schemes) bound an honest listing.
   */
  maxPages: number;
  /** Bytes of one page at most: 50 participants are ~6 kB, 1000 ~100 kB. */
  maxPageBytes: number;
  signal?: AbortSignal;
  onPage?: (progress: ListingProgress) => void;
}

/** The SML answered, but not a listing one can trust: the run ends and marks nothing. */
export class SmlListingInvalid extends ServiceError {
  constructor(environment: Environment, message: string) {
    super('sml-listing-invalid', 502, `the ${environment} SML's listing cannot be trusted: ${message}; nothing was changed`);
  }
}

/** A page identifier longer than this is not a page number (BDMSL's are). */
const MAX_PAGE_ID_LENGTH = 128;

export async function readListing(client: SmlClient, options: ListingOptions): Promise<Listing> {
  const participants = new EnterpriseNumberSet();
  const seen = new Set<string>();
  const progress: ListingProgress = { pages: 0, listed: 0 };
  const invalid = (message: string) => new SmlListingInvalid(options.environment, message);
  let next: string | undefined;
  do {
    options.signal?.throwIfAborted();
    let page;
    try {
      page = await client.list(options.smpId, next, { maxBytes: options.maxPageBytes });
      options.health.answered(options.environment);
    } catch (error) {
      const trouble = classifySmlError(error);
      if (trouble !== 'not-ours') options.health.failed(options.environment, trouble, error);
      throw error;
    }
    progress.pages++;
    for (const id of page.participants) {
      const participant = id.startsWith('0208:') ? parseParticipantId(id) : undefined;
      if (participant && participants.addOnce(participant.enterpriseNumber)) progress.listed++;
    }
    const following = page.nextPageIdentifier;
    if (following !== undefined) {
      if (following.length > MAX_PAGE_ID_LENGTH) throw invalid(`page ${progress.pages} names a next page of ${following.length} characters`);
      if (seen.has(following) || following === next) throw invalid(`it repeated page ${following.slice(0, 32)} after ${progress.pages} pages`);
      if (progress.pages >= options.maxPages) throw invalid(`it has more than ${options.maxPages} pages, more than the enterprises hsmp holds can fill`);
      seen.add(following);
    }
    next = following;
    options.onPage?.(progress);
  } while (next !== undefined);
  return { ...progress, participants };
}
