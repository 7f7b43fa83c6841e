// The Node host's guards: what Node's permission model does not cover,
// refused in JavaScript before the test file loads (node.mjs installs them).
//
// - The network, without a `net` grant: Node 24 has no switch for it. The
//   calls that open a connection, listen, send a datagram or resolve a name
//   (net, tls, http, https, http2, dgram, dns) and the globals fetch,
//   WebSocket and EventSource throw.
// - node:sqlite, without a `write` grant: SQLite opens, attaches and writes
//   files (ATTACH, VACUUM INTO) past Node's file system permissions.
// - Signals, without a `run` grant: process.kill reaches only the test's
//   own process.
//
// Every route to a builtin hands out the same object (import, require,
// createRequire, process.getBuiltinModule), so the guards patch that object
// and its classes' prototypes. Nothing is loaded here that the test does not
// load itself (http alone would grow every snapshot by a twentieth): a
// module is patched once it has loaded, before the test can see it. A
// module hook, process.getBuiltinModule and the first read of
// process.stdout, stderr and stdin (which load net themselves) look through
// the builtins loaded since they last looked, so that a module another one
// loaded (net, under http) is patched too.
//
// A denial is an Error with code ERR_ACCESS_DENIED, as Node's own are,
// whose message names the call and the `allow` entry that grants it.

import {
  ArrayPrototypeIncludes,
  ErrorCtor,
  ObjectGetPrototypeOf,
  NumberCtor,
  ReflectApply,
  RegExpPrototypeExec,
  SetCtor,
  SetPrototypeAdd,
  SetPrototypeHas,
} from "./primordials.js";

// Taken here rather than in primordials.js, which Deno's harness shares:
// its heap stays as it was.
const ObjectDefineProperty = Object.defineProperty;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames;
const startsWith = String.prototype.startsWith;
const proc = process;
const getBuiltinModule = proc.getBuiltinModule;
// Not imported: see node.mjs.
const { registerHooks, syncBuiltinESMExports } = ReflectApply(getBuiltinModule, proc, ["node:module"]);

/** The Error a guarded call throws. */
function denial(what, api, grant) {
  const error = new ErrorCtor(
    `memcheck: ${what} (${api}) is not granted to tests; grant it in memcheck.toml: [runtime] allow = ["${grant}"]`,
  );
  ObjectDefineProperty(error, "code", { value: "ERR_ACCESS_DENIED", writable: true, enumerable: true, configurable: true });
  return error;
}

/** Replace `target[key]` (when this Node has it) with `value`. */
function replace(target, key, value) {
  const was = ObjectGetOwnPropertyDescriptor(target, key);
  if (was === undefined) return;
  ObjectDefineProperty(target, key, {
    value,
    writable: true,
    enumerable: was.enumerable,
    configurable: was.configurable,
  });
}

/** Make `target[key]` throw the denial of `what`, named `name.key`. */
function refuse(target, name, key, what, grant) {
  replace(target, key, function () {
    throw denial(what, `${name}.${key}`, grant);
  });
}

const CONNECT = "opening a network connection";
const LISTEN = "listening for network connections";
const REQUEST = "making an HTTP request";
const RESOLVE = "resolving a host name";
const LOOKUP = /^(lookup|resolve|reverse)/;

/** dns's (or dns.promises') lookups, and its Resolver's. (Patches run
 * after user code may have run: plain loops, no iterators.) */
function refuseLookups(dns, name) {
  refuseMatching(dns, name);
  refuseMatching(dns.Resolver.prototype, `${name}.Resolver`);
}

function refuseMatching(target, name) {
  const keys = ObjectGetOwnPropertyNames(target);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const d = ObjectGetOwnPropertyDescriptor(target, key);
    if (typeof d.value === "function" && key !== "constructor" && RegExpPrototypeExec(LOOKUP, key) !== null) {
      refuse(target, name, key, RESOLVE, "net");
    }
  }
}

/** What each builtin refuses without its grant: [id, grant, patch]. */
const MODULES = [
  [
    "net",
    "net",
    (net) => {
      refuse(net, "net", "connect", CONNECT, "net");
      refuse(net, "net", "createConnection", CONNECT, "net");
      refuse(net, "net", "_createServerHandle", LISTEN, "net");
      refuse(net, "net", "BoundSocket", LISTEN, "net");
      // Every client socket (tls, http, fetch's) connects here, and every
      // server listens here.
      refuse(net.Socket.prototype, "net.Socket", "connect", CONNECT, "net");
      refuse(net.Server.prototype, "net.Server", "listen", LISTEN, "net");
      refuse(net.Server.prototype, "net.Server", "_listen2", LISTEN, "net");
    },
  ],
  ["tls", "net", (tls) => refuse(tls, "tls", "connect", CONNECT, "net")],
  [
    "http",
    "net",
    (http) => {
      refuse(http, "http", "request", REQUEST, "net");
      refuse(http, "http", "get", REQUEST, "net");
    },
  ],
  [
    "https",
    "net",
    (https) => {
      refuse(https, "https", "request", REQUEST, "net");
      refuse(https, "https", "get", REQUEST, "net");
    },
  ],
  ["http2", "net", (http2) => refuse(http2, "http2", "connect", CONNECT, "net")],
  [
    "dgram",
    "net",
    (dgram) => {
      // A socket's raw handle (`socket._handle`) binds and sends by
      // itself: no socket may be made.
      refuse(dgram, "dgram", "createSocket", "opening a UDP socket", "net");
      refuse(dgram, "dgram", "Socket", "opening a UDP socket", "net");
      refuse(dgram, "dgram", "_createSocketHandle", "opening a UDP socket", "net");
    },
  ],
  [
    "dns",
    "net",
    (dns) => {
      refuseLookups(dns, "dns");
      refuseLookups(dns.promises, "dns.promises");
    },
  ],
  ["dns/promises", "net", (dns) => refuseLookups(dns, "dns.promises")],
  [
    "sqlite",
    "write",
    (sqlite) => {
      refuse(sqlite, "sqlite", "DatabaseSync", "opening a SQLite database", "write");
      refuse(sqlite, "sqlite", "backup", "writing a SQLite backup", "write");
    },
  ],
];

/**
 * Install the guards for what `grants` ({ net, write, run }) leaves out,
 * before any user module loads.
 */
export function installGuards(grants) {
  if (!grants.run) guardKill();
  if (!grants.net) guardGlobals();
  const pending = [];
  for (const [id, grant, patch] of MODULES) {
    if (!grants[grant]) pending[pending.length] = { id, entry: `NativeModule ${id}`, patch, done: false };
  }
  if (pending.length === 0) return;

  // Node lists every builtin it loads here, in order.
  const loaded = proc.moduleLoadList;
  let seen = 0;
  let left = pending.length;
  const sweep = () => {
    if (left === 0 || loaded.length === seen) return;
    seen = loaded.length;
    let patched = false;
    for (let i = 0; i < pending.length; i++) {
      const guard = pending[i];
      if (guard.done || !ArrayPrototypeIncludes(loaded, guard.entry)) continue;
      guard.done = true;
      left--;
      guard.patch(ReflectApply(getBuiltinModule, proc, [`node:${guard.id}`]));
      patched = true;
    }
    // ESM named imports of a builtin are copies, refreshed here.
    if (patched) syncBuiltinESMExports();
  };

  registerHooks({
    resolve(specifier, context, next) {
      const resolved = next(specifier, context);
      const url = resolved?.url;
      if (left > 0 && typeof url === "string" && ReflectApply(startsWith, url, ["node:"])) {
        // Load it now (Node would, next) so that it is patched first.
        ReflectApply(getBuiltinModule, proc, [url]);
        sweep();
      }
      return resolved;
    },
  });
  const guarded = {
    getBuiltinModule(id) {
      const module = ReflectApply(getBuiltinModule, proc, [id]);
      sweep();
      return module;
    },
  };
  replace(proc, "getBuiltinModule", guarded.getBuiltinModule);
  if (!grants.net) guardStdio(sweep);
  // What is loaded already (net, for process.stderr on a pipe) is patched
  // now, not by the first look, which may come inside a block and would
  // count the patches there.
  sweep();
}

/** process.kill and process._kill, for the test's own process only. */
function guardKill() {
  const pid = proc.pid;
  const kill = proc.kill;
  const rawKill = proc._kill;
  const own = (target) => (typeof target === "string" ? NumberCtor(target) : target) === pid;
  const guarded = {
    kill(target, signal) {
      if (!own(target)) throw denial("sending a signal to another process", "process.kill", "run");
      return ReflectApply(kill, proc, [pid, signal]);
    },
    _kill(target, signal) {
      if (!own(target)) throw denial("sending a signal to another process", "process._kill", "run");
      return ReflectApply(rawKill, proc, [pid, signal]);
    },
  };
  replace(proc, "kill", guarded.kill);
  replace(proc, "_kill", guarded._kill);
}

/**
 * fetch, WebSocket and EventSource: Node's undici is reachable only
 * through them, and loads net by itself. Assigned as a script would
 * (defineProperty on the global object changed what later blocks
 * allocate, by a few hundred bytes).
 */
function guardGlobals() {
  const global = globalThis;
  if ("fetch" in global) {
    global.fetch = async function fetch() {
      throw denial("fetching over the network", "fetch", "net");
    };
  }
  if ("WebSocket" in global) {
    global.WebSocket = function WebSocket() {
      throw denial("opening a WebSocket", "WebSocket", "net");
    };
  }
  if ("EventSource" in global) {
    global.EventSource = function EventSource() {
      throw denial("opening an event stream", "EventSource", "net");
    };
  }
}

/**
 * process.stdout, stderr and stdin are made on first read, and load net for
 * a pipe or socket: look for new builtins then, and guard the stream's raw
 * handle (a Pipe binds, listens and connects by itself).
 */
function guardStdio(sweep) {
  const handles = new SetCtor();
  for (const name of ["stdin", "stdout", "stderr"]) {
    const was = ObjectGetOwnPropertyDescriptor(proc, name);
    if (was?.get === undefined || !was.configurable) continue;
    const get = was.get;
    let first = true;
    ObjectDefineProperty(proc, name, {
      get() {
        const stream = ReflectApply(get, this, []);
        if (first) {
          first = false;
          sweep();
          guardHandle(stream, handles);
        }
        return stream;
      },
      set: was.set,
      enumerable: was.enumerable,
      configurable: true,
    });
    // process.stderr is made already (node.mjs makes it): its handle's
    // class is guarded now, so that a block that reads it first (a logger
    // checking for colours) counts none of the guards' own functions.
    if (name === "stderr") guardHandle(ReflectApply(get, proc, []), handles);
  }
}

/**
 * Guard the class of a stream's raw handle, named after the class (Pipe,
 * TTY): every stream of that class shares it, whichever was read first.
 */
function guardHandle(stream, handles) {
  const handle = stream?._handle;
  if (handle === null || typeof handle !== "object") return;
  const proto = ObjectGetPrototypeOf(handle);
  if (proto === null || SetPrototypeHas(handles, proto)) return;
  SetPrototypeAdd(handles, proto);
  const name = typeof proto.constructor?.name === "string" ? proto.constructor.name : "process.stdout._handle";
  refuse(proto, name, "bind", LISTEN, "net");
  refuse(proto, name, "listen", LISTEN, "net");
  refuse(proto, name, "connect", CONNECT, "net");
}
