/** Who asked for a migration key, as the collection log records it. */
export interface CollectionContext {
  requestId: string;
  seatId: string;
  fingerprint: string;
  clientIp: string;
}
