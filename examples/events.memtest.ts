import { test } from "memcheck";
import { Emitter, Subscription } from "./lib/events.ts";

test("unsubscribed listeners are released", async (t) => {
  const emitter = new Emitter<number>();
  const subs: Subscription[] = [];
  await t.measure("subscribe 500", () => {
    for (let i = 0; i < 500; i++) subs.push(new Subscription(i, emitter.on(() => {})));
  });
  await t.measure("unsubscribe all", () => {
    for (const s of subs) s.dispose();
    subs.length = 0;
  });
  if (emitter.listenerCount !== 0) throw new Error("listeners left behind");
});
