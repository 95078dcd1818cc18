// `cargo xtask bench` (CACHELAB_BENCH=embed): the npm package's speed in
// Node.js, run where the packed .tgz is installed. Prints one JSON line:
// the engine's load time, Cluster.create per kind (median of 5), and SET/GET
// per second through `send` on a replication group and on a single Node.
import { performance } from "node:perf_hooks";

const t0 = performance.now();
const { Cluster, Node, ready } = await import("cachelab");
await ready();
const load_ms = performance.now() - t0;

const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];

async function createMs(options) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const c = await Cluster.create(options);
    times.push(performance.now() - t);
    c.close();
  }
  return median(times);
}

// SET then GET of n keys, 3 rounds after a warm-up; ops per second.
async function rate(target, n) {
  const run = async () => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await target.send(`SET key:${i} value-${i}`);
    for (let i = 0; i < n; i++) await target.send(`GET key:${i}`);
    return (2 * n) / ((performance.now() - t) / 1000);
  };
  await run();
  return median([await run(), await run(), await run()]);
}

const create_ms = {
  replication: await createMs({ engine: "redis", replicas: 2 }),
  memcached: await createMs({ engine: "memcached", nodes: 3 }),
  cluster_mode: await createMs({ engine: "redis", shards: 3, replicas: 1 }),
};
const group = await Cluster.create({ engine: "redis", replicas: 2 });
const group_ops = await rate(group, 5000);
group.close();
const node = await Node.create();
const node_ops = await rate(node, 20000);
node.close();
console.log(JSON.stringify({ load_ms, create_ms, group_ops, node_ops }));
