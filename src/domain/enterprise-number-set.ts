/**
 * A set of valid enterprise numbers, one bit each: the check digits follow from the first
 * eight digits, which stay below 2·10⁷ (a number starts with 0 or 1), so 2.5 MB cover all of
 * Belgium. Callers add only numbers whose check digits they have verified. Pure.
 */
export class EnterpriseNumberSet {
  private readonly bits = new Uint8Array(20_000_000 / 8);

  /** Adds the number; false when it was already there. */
  addOnce(tenDigits: string): boolean {
    const { index, mask } = position(tenDigits);
    if (this.bits[index] & mask) return false;
    this.bits[index] |= mask;
    return true;
  }

  has(tenDigits: string): boolean {
    const { index, mask } = position(tenDigits);
    return (this.bits[index] & mask) !== 0;
  }
}

function position(tenDigits: string): { index: number; mask: number } {
  const body = Number(tenDigits.slice(0, 8));
  return { index: body >> 3, mask: 1 << (body & 7) };
}
