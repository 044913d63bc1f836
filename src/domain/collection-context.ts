/** Who asked for a migration key, as the collection log records it. */
export interface CollectionContext {
  requestId: string;
  /** When the request arrived: the time of its collection-log row, which with the id names the row. */
  requestedAt: Date;
  seatId: string;
  fingerprint: string;
  clientIp: string;
}
