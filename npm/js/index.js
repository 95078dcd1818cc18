// cachelab: a Redis/Valkey- and Memcached-compatible cache engine, compiled
// to WebAssembly — one node, or a whole ElastiCache-shaped cluster simulated
// in virtual time — for browsers and Node.js 18+.
//
// The engine is `cachelab_npm.js` + `cachelab_npm_bg.wasm` (wasm-bindgen,
// --target web), loaded once, relative to this file: with fetch in a
// browser, from the file in Node.js (whose fetch cannot read file: URLs).

import init, * as wasm from "./cachelab_npm.js";

let loading;

/** Loads the engine (once); every `create` awaits it. */
export function ready() {
  loading ??= (async () => {
    const url = new URL("./cachelab_npm_bg.wasm", import.meta.url);
    if (url.protocol === "file:") {
      const { readFile } = await import("node:fs/promises");
      await init({ module_or_path: await readFile(url) });
    } else {
      await init({ module_or_path: url });
    }
  })();
  return loading;
}

function live(handle, what) {
  if (!handle) throw new Error(`cachelab: this ${what} is closed`);
  return handle;
}

/** A simulated cluster: real engine nodes, ElastiCache's control plane,
 *  a virtual clock that moves only in `advance`. */
export class Cluster {
  #c;

  /** @param {import("./index").ClusterOptions} [options] */
  static async create(options = {}) {
    await ready();
    const c = new Cluster();
    c.#c = new wasm.Cluster(options);
    return c;
  }

  /** A command; its reply as a JavaScript value. An error reply rejects
   *  with an Error named "ReplyError" in Redis's words. Each send is a
   *  connection of its own (as from a pool): HELLO 3, SELECT or MULTI do
   *  not carry over — a Node keeps one connection. */
  async send(line, { via } = {}) {
    return live(this.#c, "cluster").send(String(line), via);
  }

  /** One step in the labs' language: a command, `mc NODE line`, or an
   *  action such as `!failover`, `!isolate primary`, `!scale-out 1`. */
  async step(line) {
    return live(this.#c, "cluster").step(String(line));
  }

  /** A node crashes: "primary" or a node's name (a Memcached node's id). */
  async kill(who = "primary") {
    live(this.#c, "cluster").kill(String(who));
  }

  /** Virtual time passes, in milliseconds. */
  async advance(ms) {
    live(this.#c, "cluster").advance(Number(ms));
  }

  /** Nodes, roles, endpoints, shards and events, as the control plane shows them. */
  view() {
    return live(this.#c, "cluster").view();
  }

  /** The event log, oldest first, in DescribeEvents' words. */
  events() {
    return live(this.#c, "cluster").events();
  }

  /** The virtual clock, in ms since the epoch. */
  now() {
    return live(this.#c, "cluster").now();
  }

  /** Frees the cluster's memory; the object is unusable after. */
  close() {
    this.#c?.free();
    this.#c = undefined;
  }
}

/** One node, no network: commands or raw protocol bytes in, replies out. */
export class Node {
  #n;

  /** @param {import("./index").NodeOptions} [options] */
  static async create(options = {}) {
    await ready();
    const n = new Node();
    n.#n = new wasm.Node(options);
    return n;
  }

  /** A command line; its reply as a JavaScript value (Memcached: text). */
  async send(line) {
    return live(this.#n, "node").send(String(line));
  }

  /** Raw protocol: request bytes in, the reply bytes they drew out. */
  handle(bytes) {
    return live(this.#n, "node").handle(bytes);
  }

  /** Virtual time passes, in milliseconds (TTLs expire). */
  async advance(ms) {
    live(this.#n, "node").advance(Number(ms));
  }

  now() {
    return live(this.#n, "node").now();
  }

  close() {
    this.#n?.free();
    this.#n = undefined;
  }
}
