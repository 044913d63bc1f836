/**
 * Turns many small database writes into few batches (group commit): while `maxInFlight`
 * batches are in the database, new items wait and leave together in the next one. An item
 * that finds a free slot leaves alone at once, so an idle service adds no delay; under load a
 * batch carries everything that arrived meanwhile, and round trips, commits and syscalls per
 * item fall as the load rises. Each item's promise settles only when its batch has committed.
 */
export interface GroupCommitOptions {
  /** Batches in the database at once (at most the pool's connections). */
  maxInFlight: number;
  /** Items per batch, bounding one statement's size and time. */
  maxBatch: number;
}

interface Waiting<I, O> {
  item: I;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export class GroupCommit<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private inFlight = 0;

  /** `runBatch` must answer one output per item, in the items' order. */
  constructor(
    private readonly runBatch: (items: I[]) => Promise<O[]>,
    private readonly options: GroupCommitOptions,
  ) {
    if (!(options.maxInFlight >= 1 && options.maxBatch >= 1)) throw new RangeError('maxInFlight and maxBatch must be at least 1');
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.dispatch();
      });
    }
  }

  private async run(batch: Array<Waiting<I, O>>): Promise<void> {
    try {
      const outputs = await this.runBatch(batch.map((w) => w.item));
      if (outputs.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${outputs.length} results`);
      batch.forEach((w, i) => {
        w.resolve(outputs[i]);
      });
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
