// One <cachelab-demo>'s cluster, in a worker of its own: the engine's
// simulator (the npm package's module, cachelab_npm.js, found next to this
// file) plays the demo's steps on real engine nodes in virtual time. The
// element sends { type: "start" | "play" | "goto", … }; each answer carries
// the cluster's view, so the element draws only what the engine says.

import init, { DemoRun, demos } from "./cachelab_npm.js";

const ready = init({ module_or_path: new URL("./cachelab_npm_bg.wasm", import.meta.url) });
let run = null;
let id = "";
let seed = 1;

function post(msg) {
  self.postMessage(msg);
}

function restart() {
  run?.free();
  run = new DemoRun(id, seed);
}

self.onmessage = async (e) => {
  const m = e.data;
  try {
    await ready;
    if (m.type === "start") {
      id = m.id;
      seed = m.seed ?? 1;
      const demo = demos().find((d) => d.id === id);
      if (!demo) {
        const known = demos().map((d) => d.id).join(", ");
        post({ type: "error", message: `There is no demo "${id}". Demos: ${known}.` });
        return;
      }
      if (demo.pending) {
        post({ type: "pending", title: demo.title, reason: demo.pending });
        return;
      }
      restart();
      post({
        type: "ready",
        title: demo.title,
        captions: demo.step.map((s) => s.caption),
        view: run.view(),
      });
    } else if (m.type === "play") {
      const step = run.play();
      post({ type: "step", step, view: run.view(), next: run.next() });
    } else if (m.type === "goto") {
      // Back (or anywhere): the same seed replays the same way.
      restart();
      const steps = [];
      while (run.next() < m.next) steps.push(run.play());
      post({ type: "replayed", steps, view: run.view(), next: run.next() });
    }
  } catch (err) {
    post({ type: "error", message: String(err?.message ?? err) });
  }
};
