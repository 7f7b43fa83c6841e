import { LRUCache } from "lru-cache";
import { marked } from "marked";
import mitt from "mitt";

/** A rendered page, kept in the cache. */
export class Page {
  constructor(source, html) {
    this.source = source;
    this.html = html;
  }
}

/** Markdown rendered once per text, at most `max` pages kept. */
export class Renderer {
  constructor(max) {
    this.pages = new LRUCache({ max });
    this.events = mitt();
  }

  render(source) {
    let page = this.pages.get(source);
    if (!page) {
      page = new Page(source, marked.parse(source));
      this.pages.set(source, page);
      this.events.emit("rendered", page);
    }
    return page.html;
  }
}
