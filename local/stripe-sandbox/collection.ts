/**
 * One resource's objects for one account and mode, in Stripe's list order.
 * Seeded objects are kept as small entries and built on demand (an account can
 * hold 200,000+ of them); objects created or changed later are stored whole.
 */
export interface Entry {
  id: string;
  created: number;
  /** The generator's index for a seeded object; -1 for a stored one. */
  seq: number;
}

export class Collection<T extends { id: string }> {
  /** Ascending by `created`, then by insertion: Stripe lists are this, reversed. */
  readonly entries: Entry[] = [];
  private readonly positions = new Map<string, number>();
  private readonly stored = new Map<string, T>();
  /** Deleted objects: gone from lists, kept in place so positions and cursors stay put. */
  private readonly removed = new Set<string>();

  /**
   * `view` renders an object as it is now, for state that Stripe changes with time and
   * no event (a balance transaction's `status` once its `available_on` has passed).
   */
  constructor(
    private readonly generate: (entry: Entry) => T,
    private readonly view: (object: T) => T = (object) => object,
  ) {}

  addSeeded(entry: Entry): void {
    this.positions.set(entry.id, this.entries.length);
    this.entries.push(entry);
  }

  /**
   * Appends a new object; `created` must not go backwards (the sandbox clock only moves on).
   * An object without a `created` of its own (a discount) is placed at `at`.
   */
  add(object: T & ({ created: number } | { start: number }), at?: number): void {
    const last = this.entries[this.entries.length - 1];
    const own = 'created' in object ? object.created : (at ?? object.start);
    const created = last && own < last.created ? last.created : own;
    this.positions.set(object.id, this.entries.length);
    this.entries.push({ id: object.id, created, seq: -1 });
    this.stored.set(object.id, object);
  }

  /** Replaces an object's current state (a refund updates its charge, say). */
  update(object: T): void {
    if (!this.positions.has(object.id)) throw new Error(`no object ${object.id}`);
    this.stored.set(object.id, object);
  }

  /** Deletes an object as Stripe does: lists no longer show it (the caller decides what a retrieve says). */
  remove(id: string): void {
    if (!this.positions.has(id)) throw new Error(`no object ${id}`);
    this.removed.add(id);
  }

  isRemoved(id: string): boolean {
    return this.removed.has(id);
  }

  /** Every object not deleted, oldest first. */
  *live(): Generator<T> {
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i] as Entry;
      if (!this.removed.has(entry.id)) yield this.at(i);
    }
  }

  /** The ids deleted after seeding, to persist. */
  removedIds(): string[] {
    return [...this.removed];
  }

  position(id: string): number | undefined {
    return this.positions.get(id);
  }

  get size(): number {
    return this.entries.length;
  }

  at(position: number): T {
    const entry = this.entries[position];
    if (!entry) throw new RangeError(`position ${position} out of range`);
    return this.view(this.stored.get(entry.id) ?? this.generate(entry));
  }

  get(id: string): T | undefined {
    const position = this.positions.get(id);
    return position === undefined ? undefined : this.at(position);
  }

  /** What must be persisted: the objects that were created or changed after seeding. */
  storedObjects(): T[] {
    return [...this.stored.values()];
  }

  restore(objects: T[], removed: string[] = []): void {
    for (const object of objects) {
      if (this.positions.has(object.id)) this.stored.set(object.id, object);
      else this.add(object as T & { created: number });
    }
    for (const id of removed) if (this.positions.has(id)) this.removed.add(id);
  }
}
