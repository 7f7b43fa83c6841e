// A tiny typed event emitter with unsubscribe.
export type Listener<T> = (event: T) => void;

export class Emitter<T> {
  #listeners = new Set<Listener<T>>();

  on(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: T): void {
    for (const l of this.#listeners) l(event);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}

export class Subscription {
  constructor(public readonly id: number, public readonly dispose: () => void) {}
}
