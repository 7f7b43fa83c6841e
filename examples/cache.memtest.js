import { test } from "memcheck";
import { LruCache } from "./lib/lru.js";

test("lru cache stays bounded", { budget: { retained: "64 KiB" } }, async (t) => {
  const cache = new LruCache(100);
  await t.measure("insert 10k", () => {
    for (let i = 0; i < 10_000; i++) cache.set(i, { n: i });
  });
  await t.measure("read back", () => {
    let hits = 0;
    for (let i = 9_900; i < 10_000; i++) if (cache.get(i)) hits++;
    if (hits !== 100) throw new Error(`expected 100 hits, got ${hits}`);
  });
});

class Widget {
  constructor(id) {
    this.id = id;
  }
}

const kept = [];

test("retains exactly what it keeps", { budget: { constructors: { Widget: 1000 } } }, () => {
  for (let i = 0; i < 1000; i++) kept.push(new Widget(i));
});

test("garbage is not retained", () => {
  let total = 0;
  for (let i = 0; i < 50_000; i++) total += new Widget(i).id;
  if (total <= 0) throw new Error("unreachable");
});
