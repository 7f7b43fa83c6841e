// A small LRU cache: a Map keeps insertion order, so the first key is the
// least recently used one.
export class LruCache {
  constructor(capacity) {
    this.capacity = capacity;
    this.map = new Map();
  }

  get(key) {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  set(key, value) {
    this.map.delete(key);
    this.map.set(key, new CacheEntry(key, value));
    while (this.map.size > this.capacity) {
      this.map.delete(this.map.keys().next().value);
    }
  }

  get size() {
    return this.map.size;
  }
}

export class CacheEntry {
  constructor(key, value) {
    this.key = key;
    this.value = value;
  }
}
