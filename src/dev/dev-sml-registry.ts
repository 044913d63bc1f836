import { appendFileSync, closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ENVIRONMENTS, type Environment } from '../domain/environment';

/**
 * What the development SML knows, sized for Belgium (a million participants and more): per
 * environment, the prepared keys, the participants that moved to another SMP, and for each SMP
 * the sorted list of its participants, so that a List page costs the same at page 1 and at page
 * 20 000. Participants are `0208:` and ten digits (the development SML refuses any other), kept
 * as numbers.
 *
 * State survives a restart through an append-only journal: one line per change, replayed at
 * start and compacted then if it has grown well beyond what it describes. No call rewrites the
 * whole state.
 */
const PREFIX = '0208:';

export const participantNumber = (participant: string): number => Number(participant.slice(PREFIX.length));
export const participantOf = (number: number): string => `${PREFIX}${String(number).padStart(10, '0')}`;

/**
 * A sorted set of numbers for paging: a sorted typed array, and the additions and removals since
 * it was last sorted, merged in one pass when a page is asked for. A listing with no change in
 * between pays only for its page.
 */
export class SortedParticipants {
  private sorted = new Uint32Array(0);
  private readonly added = new Set<number>();
  private readonly removed = new Set<number>();

  add(id: number): void {
    if (this.removed.delete(id)) return;
    if (!this.inSorted(id)) this.added.add(id);
  }

  remove(id: number): void {
    if (this.added.delete(id)) return;
    if (this.inSorted(id)) this.removed.add(id);
  }

  get size(): number {
    this.settle();
    return this.sorted.length;
  }

  slice(start: number, count: number): number[] {
    this.settle();
    return Array.from(this.sorted.subarray(start, start + count));
  }

  private inSorted(id: number): boolean {
    let low = 0;
    let high = this.sorted.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = this.sorted[middle];
      if (value === id) return true;
      if (value < id) low = middle + 1;
      else high = middle - 1;
    }
    return false;
  }

  private settle(): void {
    if (this.added.size === 0 && this.removed.size === 0) return;
    const additions = Uint32Array.from(this.added).sort();
    const merged = new Uint32Array(this.sorted.length - this.removed.size + additions.length);
    let i = 0;
    let j = 0;
    let out = 0;
    while (i < this.sorted.length || j < additions.length) {
      if (j >= additions.length || (i < this.sorted.length && this.sorted[i] < additions[j])) {
        const value = this.sorted[i++];
        if (!this.removed.has(value)) merged[out++] = value;
      } else merged[out++] = additions[j++];
    }
    this.sorted = merged;
    this.added.clear();
    this.removed.clear();
  }
}

interface EnvironmentRegistry {
  /** Participant → the key prepared for it. */
  prepared: Map<number, string>;
  /** Participant → its SMP, for those assigned one (moved, or given back to the home SMP). */
  owners: Map<number, string>;
  /** SMP id → its listed participants (those with a record: prepared, moved or assigned). */
  listed: Map<string, SortedParticipants>;
}

/** A journal line: P (a key prepared) or O (the participant's owner set, its key dropped). */
type Change =
  { kind: 'P'; environment: Environment; participant: number; value: string } | { kind: 'O'; environment: Environment; participant: number; value: string };

export class DevSmlRegistry {
  private readonly environments: Record<Environment, EnvironmentRegistry>;
  private journal: number | undefined;

  constructor(
    private readonly homeSmpId: string,
    journalPath?: string,
  ) {
    this.environments = Object.fromEntries(ENVIRONMENTS.map((e) => [e, { prepared: new Map(), owners: new Map(), listed: new Map() }])) as Record<
      Environment,
      EnvironmentRegistry
    >;
    if (journalPath) this.open(journalPath);
  }

  ownerOf(environment: Environment, participant: string): string {
    return this.environments[environment].owners.get(participantNumber(participant)) ?? this.homeSmpId;
  }

  preparedKey(environment: Environment, participant: string): string | undefined {
    return this.environments[environment].prepared.get(participantNumber(participant));
  }

  prepare(environment: Environment, participant: string, key: string): void {
    this.apply({ kind: 'P', environment, participant: participantNumber(participant), value: key }, true);
  }

  /** Migrate or another channel: the participant is `smpId`'s from now on, without a prepared key. */
  assign(environment: Environment, participant: string, smpId: string): void {
    this.apply({ kind: 'O', environment, participant: participantNumber(participant), value: smpId }, true);
  }

  /** One page of `smpId`'s participants, page numbers from 0; `next` is absent on the last page. */
  page(environment: Environment, smpId: string, page: number, pageSize: number): { participants: string[]; next?: number } {
    const listed = this.environments[environment].listed.get(smpId);
    if (!listed) return { participants: [] };
    const start = page * pageSize;
    const participants = listed.slice(start, pageSize).map(participantOf);
    return start + pageSize < listed.size ? { participants, next: page + 1 } : { participants };
  }

  close(): void {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
  }

  private listedOf(registry: EnvironmentRegistry, smpId: string): SortedParticipants {
    let listed = registry.listed.get(smpId);
    if (!listed) registry.listed.set(smpId, (listed = new SortedParticipants()));
    return listed;
  }

  private apply(change: Change, record: boolean): void {
    const registry = this.environments[change.environment];
    const owner = registry.owners.get(change.participant) ?? this.homeSmpId;
    if (change.kind === 'P') {
      registry.prepared.set(change.participant, change.value);
      this.listedOf(registry, owner).add(change.participant);
    } else {
      registry.prepared.delete(change.participant);
      this.listedOf(registry, owner).remove(change.participant);
      // Kept even when it is the home SMP: the record is what makes the participant listed.
      registry.owners.set(change.participant, change.value);
      this.listedOf(registry, change.value).add(change.participant);
    }
    if (record && this.journal !== undefined) appendFileSync(this.journal, `${change.kind}\t${change.environment}\t${change.participant}\t${change.value}\n`);
  }

  private open(path: string): void {
    let lines = 0;
    if (existsSync(path)) {
      lines = this.replay(readFileSync(path, 'utf8'));
    }
    const live = ENVIRONMENTS.reduce((sum, e) => sum + this.environments[e].prepared.size + this.environments[e].owners.size, 0);
    if (lines === 0 || lines > 2 * live + 1000) this.compact(path);
    this.journal = openSync(path, 'a', 0o600);
  }

  private replay(text: string): number {
    let lines = 0;
    for (const line of text.split('\n')) {
      const fields = line.split('\t');
      const [kind, environment, participant, value] = fields;
      // A line cut by a crash mid-write is the last one, and incomplete: skipped.
      if (fields.length !== 4 || (kind !== 'P' && kind !== 'O') || !ENVIRONMENTS.includes(environment as Environment) || value === '') continue;
      this.apply({ kind, environment: environment as Environment, participant: Number(participant), value }, false);
      lines++;
    }
    return lines;
  }

  /** Rewrites the journal as the state it describes (written aside, then renamed over). */
  private compact(path: string): void {
    const lines: string[] = [];
    for (const environment of ENVIRONMENTS) {
      const registry = this.environments[environment];
      for (const [participant, smpId] of registry.owners) lines.push(`O\t${environment}\t${participant}\t${smpId}\n`);
      for (const [participant, key] of registry.prepared) lines.push(`P\t${environment}\t${participant}\t${key}\n`);
    }
    writeFileSync(`${path}.tmp`, lines.join(''), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
}
