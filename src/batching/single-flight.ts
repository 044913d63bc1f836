/**
 * Concurrent callers asking for the same key share one run of the work (single flight); once it
 * has settled, success or failure, the next call runs it again. Nothing is cached beyond the run.
 */
export class SingleFlight {
  private readonly running = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const joined = this.running.get(key) as Promise<T> | undefined;
    if (joined) return joined;
    const started = work().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
