// The npm package as a user gets it: `cargo xtask test` packs it, installs
// the .tgz into a fresh folder with `npm install`, and runs this file there
// with Node.js's test runner. Everything runs in virtual time: no sleeps.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster, Node } from "cachelab";

test("a replication group answers with JavaScript values", async () => {
  const c = await Cluster.create({ engine: "redis", replicas: 2 });
  assert.equal(await c.send("SET greeting hello"), "OK");
  assert.equal(await c.send("GET greeting"), "hello");
  assert.equal(await c.send("GET nothing"), null);
  assert.equal(await c.send("INCR hits"), 1);
  assert.deepEqual(await c.send("RPUSH l a b c"), 3);
  assert.deepEqual(await c.send("LRANGE l 0 -1"), ["a", "b", "c"]);
  // The reader endpoint reaches a replica. Replication is asynchronous:
  // the write gets there once (virtual) time has passed.
  await c.advance(100);
  assert.equal(await c.send("GET greeting", { via: "reader" }), "hello");
  await assert.rejects(c.send("SET x y", { via: "reader" }), {
    name: "ReplyError",
    message: "READONLY You can't write against a read only replica.",
  });
  await assert.rejects(c.send("INCR greeting"), {
    name: "ReplyError",
    message: "ERR value is not an integer or out of range",
  });
  await assert.rejects(c.send("NOSUCHCOMMAND"), { name: "ReplyError", message: /^ERR unknown command/ });
  const view = c.view();
  assert.equal(view.kind, "replication");
  assert.equal(view.nodes.length, 3);
  assert.equal(view.nodes.filter((n) => n.role === "primary").length, 1);
  c.close();
  await assert.rejects(c.send("PING"), /closed/);
});

test("RESP3 maps become Map, sets Set, big integers bigint", async () => {
  // A node keeps its one connection: HELLO 3 holds for what follows.
  const n = await Node.create();
  const hello = await n.send("HELLO 3");
  assert.ok(hello instanceof Map, `HELLO 3 gave ${hello}`);
  assert.equal(hello.get("proto"), 3);
  await n.send("HSET h f v");
  const h = await n.send("HGETALL h");
  assert.ok(h instanceof Map);
  assert.equal(h.get("f"), "v");
  await n.send("SADD s a");
  assert.deepEqual(await n.send("SMEMBERS s"), new Set(["a"]));
  assert.equal(await n.send("ZADD z 1.5 m"), 1);
  assert.equal(await n.send("ZSCORE z m"), 1.5);
  await n.send("SET big 9007199254740993");
  assert.equal(await n.send("INCR big"), 9007199254740994n);
  n.close();
  // A cluster's sends are each a connection of their own (as from a pool):
  // RESP2 replies, HGETALL as a flat array.
  const c = await Cluster.create({ replicas: 0 });
  await c.send("HSET h f v");
  assert.deepEqual(await c.send("HGETALL h"), ["f", "v"]);
  c.close();
});

test("the primary fails: a replica is promoted in virtual time, the endpoint follows", async () => {
  const c = await Cluster.create({ engine: "redis", replicas: 2, seed: 3 });
  await c.send("SET order:1 paid");
  const before = c.view().primary;
  const t0 = c.now();
  await c.kill("primary");
  await assert.rejects(c.send("GET order:1"), /Could not connect/);
  await c.advance(60_000);
  assert.equal(c.now() - t0, 60_000);
  const after = c.view().primary;
  assert.ok(after && after !== before, `primary ${before} → ${after}`);
  assert.equal(await c.send("GET order:1"), "paid");
  assert.ok(
    c.events().some((e) => /[Ff]ailover/.test(e)),
    c.events().join("\n"),
  );
  c.close();
});

test("TTLs expire as virtual time passes, on a cluster and on one node", async () => {
  const c = await Cluster.create({ replicas: 1 });
  await c.send("SET session abc PX 1500");
  await c.advance(1000);
  assert.equal(await c.send("GET session"), "abc");
  await c.advance(1000);
  assert.equal(await c.send("GET session"), null);
  c.close();

  const n = await Node.create();
  await n.send("SET k v EX 10");
  assert.equal(await n.send("TTL k"), 10);
  await n.advance(11_000);
  assert.equal(await n.send("EXISTS k"), 0);
  n.close();
});

test("Memcached: a node lost takes its share of the keys with it", async () => {
  const c = await Cluster.create({ engine: "memcached", nodes: 3 });
  for (let i = 0; i < 90; i++) assert.equal(await c.send(`set k${i} 0 0 v${i}`), "STORED");
  assert.equal(await c.send("get k7"), "VALUE k7 0 2\r\nv7\r\nEND");
  const ids = c.view().nodes.map((n) => n.name);
  assert.equal(ids.length, 3);
  await c.kill(ids[1]);
  await c.advance(1000);
  let hits = 0;
  for (let i = 0; i < 90; i++) {
    try {
      if ((await c.send(`get k${i}`)).startsWith("VALUE")) hits++;
    } catch (e) {
      assert.match(e.message, /does not answer/);
    }
  }
  // Consistent hashing: about a third of the keys lived on the lost node.
  assert.ok(hits > 30 && hits < 85, `${hits} of 90 keys still hit`);
  c.close();
});

test("cluster mode: a cluster client follows MOVED across shards", async () => {
  const c = await Cluster.create({ shards: 3, replicas: 1 });
  for (let i = 0; i < 20; i++) assert.equal(await c.send(`SET user:${i} u${i}`, { via: "cluster" }), "OK");
  assert.equal(await c.send("GET user:13", { via: "cluster" }), "u13");
  assert.equal(await c.send("CLUSTER KEYSLOT user:1", { via: "cluster" }), 10778);
  const view = c.view();
  assert.equal(view.kind, "cluster");
  assert.equal(view.shards.length, 3);
  c.close();
});

test("one node speaks raw RESP, and memcached's text protocol", async () => {
  const n = await Node.create();
  const out = n.handle(new TextEncoder().encode("*1\r\n$4\r\nPING\r\n"));
  assert.equal(new TextDecoder().decode(out), "+PONG\r\n");
  // A request split across calls is answered once it is whole.
  assert.equal(n.handle(new TextEncoder().encode("*2\r\n$4\r\nECHO\r\n$2\r")).length, 0);
  assert.equal(new TextDecoder().decode(n.handle(new TextEncoder().encode("\nhi\r\n"))), "$2\r\nhi\r\n");
  // A malformed frame gets Redis's words.
  assert.match(new TextDecoder().decode(n.handle(new TextEncoder().encode("*1\r\n$x\r\n"))), /^-ERR Protocol error/);
  n.close();

  const m = await Node.create({ engine: "memcached" });
  assert.equal(await m.send("set a 0 0 hello"), "STORED");
  assert.equal(await m.send("get a"), "VALUE a 0 5\r\nhello\r\nEND");
  assert.equal(await m.send("incr a 1"), "CLIENT_ERROR cannot increment or decrement non-numeric value");
  m.close();
});

test("bad options are refused in clear words", async () => {
  await assert.rejects(Cluster.create({ replicas: 9 }), /InvalidParameterValue: replicas must be between 0 and 5/);
  await assert.rejects(Cluster.create({ engine: "mongodb" }), /engine must be "redis" or "memcached"/);
  await assert.rejects(Cluster.create({ replica: 1 }), /unknown option `replica`/);
  const c = await Cluster.create({ replicas: 0 });
  await assert.rejects(c.send('SET k "unbalanced'), /is not a command line/);
  await assert.rejects(c.advance(-1), /ms must be a number/);
  await assert.rejects(c.kill("no-such-node"), /no node/);
  c.close();
});
