import { test } from "memcheck";

class Todo {
  constructor(title) {
    this.title = title;
    this.done = false;
  }
}

class TodoList {
  items = [];

  add(title) {
    const todo = new Todo(title);
    this.items.push(todo);
    return todo;
  }

  clear() {
    this.items.length = 0;
  }
}

test("a todo list, step by step", async (t) => {
  const list = new TodoList();
  await t.checkpoint("start");
  for (let i = 0; i < 100; i++) list.add(`todo ${i}`);
  await t.checkpoint("add 100");
  list.clear();
  await t.checkpoint("clear", { budget: { objects: 0 } });
  for (let i = 0; i < 50; i++) list.add(`todo ${i}`);
  await t.checkpoint("add 50");
});
