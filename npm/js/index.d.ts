/** A reply as a JavaScript value: RESP3 maps as Map, sets as Set, integers
 *  beyond 2^53 and big numbers as bigint, bulk strings that are not UTF-8
 *  as Uint8Array, nil as null; an error inside an array as an Error named
 *  "ReplyError". */
export type ReplyValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Error
  | ReplyValue[]
  | Map<ReplyValue, ReplyValue>
  | Set<ReplyValue>;

export interface ClusterOptions {
  /** "redis" (the default) or "memcached". */
  engine?: "redis" | "memcached";
  /** Replicas of the replication group, or per shard (0–5; default 2). */
  replicas?: number;
  /** Given, the group is cluster mode enabled, with this many shards (1–10). */
  shards?: number;
  /** Memcached nodes (1–20; default 3). */
  nodes?: number;
  /** Multi-AZ with automatic failover (replication groups; default true). */
  multiAz?: boolean;
  /** Seeds node ids, gossip and the simulated clients (default 1). */
  seed?: number;
}

export interface NodeOptions {
  engine?: "redis" | "memcached";
  seed?: number;
}

export interface NodeState {
  name: string;
  /** primary, replica (replication groups); node (Memcached). */
  role: string;
  /** available, creating, failed, rebooting cache cluster nodes, deleted. */
  status: string;
  az: string;
}

export interface ClusterView {
  /** "replication", "cluster" or "memcached". */
  kind: string;
  nodes: NodeState[];
  /** The node the primary endpoint resolves to. */
  primary: string | null;
  readers: string[];
  multi_az: boolean;
  events: string[];
  shards: unknown[];
  status: string;
  configuration_endpoint: string;
  [field: string]: unknown;
}

/** Loads the engine; `create` awaits it for you. */
export function ready(): Promise<void>;

export class Cluster {
  static create(options?: ClusterOptions): Promise<Cluster>;
  /** Redis: a command line sent through `via` ("primary", "reader",
   *  "cluster", or a node's name). Memcached: a text-protocol line
   *  (`set k 0 0 value`, `get k`) to the node the client hashes the key to,
   *  or `via` a node's id; the reply as text. Rejects with a ReplyError on
   *  an error reply. Each send is a connection of its own (as from a pool):
   *  HELLO 3, SELECT or MULTI do not carry over; a Node keeps one. */
  send(line: string, options?: { via?: string }): Promise<ReplyValue>;
  /** A step in the labs' language: `@reader GET k`, `mc client get k`,
   *  `!failover`, `!isolate primary`, `!scale-out 1`, `!wait 30s`… */
  step(line: string): Promise<string>;
  kill(who?: string): Promise<void>;
  advance(ms: number): Promise<void>;
  view(): ClusterView;
  events(): string[];
  now(): number;
  close(): void;
}

export class Node {
  static create(options?: NodeOptions): Promise<Node>;
  send(line: string): Promise<ReplyValue>;
  handle(bytes: Uint8Array): Uint8Array;
  advance(ms: number): Promise<void>;
  now(): number;
  close(): void;
}
