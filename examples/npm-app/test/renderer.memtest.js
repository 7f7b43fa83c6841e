import { test } from "memcheck";
import { Renderer } from "../src/renderer.js";

const renderer = new Renderer(50);
renderer.render("# warm up marked");

test("the render cache stays bounded", async (t) => {
  await t.measure("render 500 documents", () => {
    for (let i = 0; i < 500; i++) renderer.render(`# Title ${i}\n\nSome *text* for page ${i}.`);
  });
});

test("a listener that is removed keeps nothing", async (t) => {
  // Five runs after a warm-up: a listener left behind would grow every time.
  await t.measure("on and off", { repeat: true }, () => {
    const seen = [];
    const onRendered = (page) => seen.push(page);
    renderer.events.on("rendered", onRendered);
    renderer.render("# The same page");
    renderer.events.off("rendered", onRendered);
  });
});
