// One cachelab node per module Web Worker: load the engine, then hand over.
// worker_main posts {t:"Ready"} once it listens; the page sends nothing before.
import init, { worker_main } from './node.js';
await init();
worker_main();
