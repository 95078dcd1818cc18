// <cachelab-demo scenario="failover">: a live, scripted cachelab cluster for
// docs pages. One ES module; load it with
//   <script type="module" src="…/embed.js"></script>
// Each element runs its own cluster in its own Web Worker (embed-worker.js,
// found relative to this file, as is the engine's wasm: copy dist/ anywhere),
// renders inside a Shadow DOM (page styles neither leak in nor out), and
// terminates its worker when it is removed from the page.
//
// Attributes: scenario (required: a demo id of exercises/demos.toml),
// height (of the transcript, CSS length; default 220px), autoplay (plays
// through on its own), controls (none | minimal | full; default full),
// speed (steps per 4 s when playing; default 1), theme (light | dark).
// The page's own styles reach the host element only: everything drawn sets
// its colours and fonts inside the shadow root (custom properties survive
// a page's `all: unset`).

const WORKER_URL = new URL("./embed-worker.js", import.meta.url);

const STYLE = `
:host { all: initial; display: block; contain: content; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  --primary: #1f9d55; --replica: #2f6fde; --failed: #d64545; --syncing: #d99a00;
  --bg: #ffffff; --ink: #1c2330; --muted: #5b6575; --line: #dde2ea; --console-bg: #0f1720; --console-ink: #d7e0ea;
  color: var(--ink); margin: 12px 0; }
:host([theme="dark"]) { --bg: #111827; --ink: #e5e9f0; --muted: #9aa5b5; --line: #2b3545; }
* { box-sizing: border-box; }
.demo { background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  text-align: left; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; }
.title { font-weight: 600; font-size: 15px; margin: 0; }
.brand { color: var(--muted); font-size: 12px; }
.nodes { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0; padding: 0; list-style: none; }
.node { display: inline-flex; align-items: center; gap: 6px; border: 2px solid var(--line); border-radius: 8px; padding: 3px 8px; font-size: 13px; }
.node.primary { border-color: var(--primary); } .node.replica { border-color: var(--replica); }
.node.failed { border-color: var(--failed); } .node.syncing, .node.creating { border-color: var(--syncing); }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
.primary .dot { background: var(--primary); } .replica .dot { background: var(--replica); }
.failed .dot { background: var(--failed); } .syncing .dot, .creating .dot { background: var(--syncing); }
.node small { color: var(--muted); }
.caption { min-height: 3em; margin: 8px 0; padding: 8px 10px; border-left: 4px solid var(--replica); background: color-mix(in srgb, var(--replica) 8%, transparent); }
.caption .count { color: var(--muted); font-size: 12px; display: block; }
.log { background: var(--console-bg); color: var(--console-ink); border-radius: 8px; padding: 8px 10px; overflow-y: auto; font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.log p { margin: 0; white-space: pre-wrap; word-break: break-word; }
.log .cmd { color: #8fd3ff; margin-top: 4px; } .log .err { color: #ff8f8f; } .log .act { color: #f7d18a; margin-top: 4px; }
.controls { display: flex; gap: 6px; margin-top: 10px; align-items: center; }
button { all: unset; cursor: pointer; font: 13px system-ui, sans-serif; padding: 5px 10px; border-radius: 6px; border: 1px solid var(--line); color: var(--ink); background: transparent; }
button:hover:not([disabled]) { border-color: var(--replica); }
button:focus-visible { outline: 2px solid var(--replica); outline-offset: 1px; }
button[disabled] { opacity: .45; cursor: default; }
.status { color: var(--muted); font-size: 12px; margin-left: auto; }
.notice { padding: 10px; border-radius: 8px; border: 1px solid var(--syncing); }
.notice.error { border-color: var(--failed); }
@media (prefers-reduced-motion: no-preference) { .node { transition: border-color .4s; } }
`;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

class CachelabDemo extends HTMLElement {
  #root;
  #worker = null;
  #timer = null;
  #playing = false;
  #busy = false;
  #captions = [];
  #next = 0;
  #ui = {};

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
  }

  connectedCallback() {
    this.#render();
    this.#start();
  }

  disconnectedCallback() {
    this.#stop();
  }

  /** The demo's worker (tests and hosts may watch it). */
  get worker() {
    return this.#worker;
  }

  #controls() {
    const c = this.getAttribute("controls") ?? "full";
    return ["none", "minimal", "full"].includes(c) ? c : "full";
  }

  #render() {
    this.#root.replaceChildren();
    const style = el("style");
    style.textContent = STYLE;
    const box = el("div", "demo");
    box.setAttribute("part", "demo");
    const head = el("div", "head");
    const title = el("p", "title", "cachelab demo");
    head.append(title, el("span", "brand", "cachelab · live engine, virtual time"));
    const nodes = el("ul", "nodes");
    nodes.setAttribute("aria-label", "nodes");
    const caption = el("div", "caption");
    caption.setAttribute("aria-live", "polite");
    caption.textContent = "Starting the cluster…";
    const log = el("div", "log");
    log.setAttribute("role", "log");
    log.style.height = this.getAttribute("height") ?? "220px";
    const controls = el("div", "controls");
    const mk = (label, aria, fn) => {
      const b = el("button", "", label);
      b.setAttribute("aria-label", aria);
      b.addEventListener("click", fn);
      return b;
    };
    const restart = mk("↺ Restart", "restart", () => this.#goto(0));
    const back = mk("◀ Back", "step back", () => this.#goto(Math.max(0, this.#next - 1)));
    const play = mk("▶ Play", "play", () => this.#toggle());
    const next = mk("Next ▶|", "next step", () => this.#play());
    const status = el("span", "status");
    const mode = this.#controls();
    if (mode === "full") controls.append(restart, back, play, next, status);
    else if (mode === "minimal") controls.append(play, next, status);
    box.append(head, nodes, caption, log);
    if (mode !== "none") box.append(controls);
    this.#root.append(style, box);
    this.#ui = { title, nodes, caption, log, restart, back, play, next, status, box };
    this.#buttons();
  }

  #start() {
    const id = this.getAttribute("scenario");
    if (!id) {
      this.#notice("error", "This <cachelab-demo> has no scenario attribute: say which demo to play, e.g. scenario=\"failover\".");
      return;
    }
    this.#worker = new Worker(WORKER_URL, { type: "module", name: `cachelab-demo ${id}` });
    this.#worker.onmessage = (e) => this.#message(e.data);
    this.#worker.onerror = (e) => this.#notice("error", `The demo's worker failed to start: ${e.message ?? "unknown error"}.`);
    this.#busy = true;
    this.#worker.postMessage({ type: "start", id, seed: 1 });
  }

  #stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#playing = false;
    this.#worker?.terminate();
    this.#worker = null;
  }

  #notice(kind, text) {
    this.#stop();
    this.#ui.title.textContent = this.#ui.title.textContent || "cachelab demo";
    const n = el("div", `notice ${kind}`, text);
    n.setAttribute("role", kind === "error" ? "alert" : "status");
    this.#ui.caption.replaceWith(n);
    this.#ui.caption = n;
    this.#ui.log.remove();
    this.#ui.nodes.remove();
    for (const b of [this.#ui.restart, this.#ui.back, this.#ui.play, this.#ui.next]) b.disabled = true;
  }

  #message(m) {
    this.#busy = false;
    if (m.type === "error") return this.#notice("error", m.message);
    if (m.type === "pending") {
      this.#ui.title.textContent = m.title;
      return this.#notice("pending", `This demo is not available yet: ${m.reason}.`);
    }
    if (m.type === "ready") {
      this.#ui.title.textContent = m.title;
      this.#captions = m.captions;
      this.#next = 0;
      this.#ui.caption.textContent = `Ready: ${m.captions.length} steps. Press Play or Next.`;
      this.#draw(m.view);
      this.dispatchEvent(new CustomEvent("ready", { detail: { steps: m.captions.length } }));
      if (this.hasAttribute("autoplay") || this.#controls() === "none") this.#toggle();
    } else if (m.type === "step") {
      this.#show(m.step);
      this.#next = m.next;
      this.#draw(m.view);
      this.dispatchEvent(new CustomEvent("step", { detail: { index: m.step.index, ok: m.step.ok } }));
      if (this.#next >= this.#captions.length) {
        this.#playing = false;
        this.dispatchEvent(new CustomEvent("end"));
      } else if (this.#playing) {
        const speed = Math.max(0.1, Number(this.getAttribute("speed") ?? 1) || 1);
        this.#timer = setTimeout(() => this.#play(), 4000 / speed);
      }
    } else if (m.type === "replayed") {
      this.#ui.log.replaceChildren();
      for (const s of m.steps) this.#show(s);
      this.#next = m.next;
      if (m.steps.length === 0) this.#ui.caption.textContent = `Ready: ${this.#captions.length} steps. Press Play or Next.`;
      this.#draw(m.view);
    }
    this.#buttons();
  }

  #show(step) {
    const c = this.#ui.caption;
    c.replaceChildren(el("span", "count", `Step ${step.index + 1} of ${this.#captions.length}`), step.caption);
    for (const l of step.lines) {
      const action = l.line.startsWith("!");
      // `sub> SUBSCRIBE news`: a second client's prompt, shown as it is.
      const session = /^[a-z0-9-]+(@\S+)?>/.test(l.line);
      const text = action ? `# ${l.line.slice(1)}` : session ? l.line : `> ${l.line}`;
      this.#ui.log.append(el("p", action ? "act" : "cmd", text));
      if (l.error !== undefined) this.#ui.log.append(el("p", "err", `(error) ${l.error}`));
      else if (l.output) this.#ui.log.append(el("p", "", l.output));
    }
    this.#ui.log.scrollTop = this.#ui.log.scrollHeight;
  }

  #draw(view) {
    const list = this.#ui.nodes;
    list.replaceChildren();
    for (const n of view.nodes ?? []) {
      const role = n.status === "failed" ? "failed" : n.status === "creating" ? "creating" : n.role;
      const li = el("li", `node ${role}`);
      li.title = `${n.name}: ${n.role}, ${n.status}${n.az ? `, ${n.az}` : ""}`;
      li.append(el("span", "dot"), n.name, el("small", "", n.status === "available" ? n.role : n.status));
      list.append(li);
    }
  }

  #buttons() {
    const u = this.#ui;
    const ended = this.#next >= this.#captions.length;
    const none = this.#captions.length === 0;
    if (u.next) u.next.disabled = this.#busy || none || ended;
    if (u.back) u.back.disabled = this.#busy || this.#next === 0;
    if (u.restart) u.restart.disabled = this.#busy || this.#next === 0;
    if (u.play) {
      u.play.disabled = none || (ended && !this.#playing);
      u.play.textContent = this.#playing ? "❚❚ Pause" : "▶ Play";
      u.play.setAttribute("aria-label", this.#playing ? "pause" : "play");
    }
    if (u.status) u.status.textContent = none ? "" : `${this.#next} / ${this.#captions.length}`;
  }

  #play() {
    if (!this.#worker || this.#busy || this.#next >= this.#captions.length) return;
    this.#busy = true;
    this.#buttons();
    this.#worker.postMessage({ type: "play" });
  }

  #toggle() {
    clearTimeout(this.#timer);
    this.#playing = !this.#playing;
    if (this.#playing) this.#play();
    this.#buttons();
  }

  #goto(n) {
    if (!this.#worker || this.#busy) return;
    clearTimeout(this.#timer);
    this.#playing = false;
    this.#busy = true;
    this.#buttons();
    this.#worker.postMessage({ type: "goto", next: n });
  }
}

if (!customElements.get("cachelab-demo")) customElements.define("cachelab-demo", CachelabDemo);
