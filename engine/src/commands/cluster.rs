//! CLUSTER and its subcommands, ASKING, READONLY and READWRITE, answered as
//! Redis 7.0's `clusterCommand` answers them from the node's cluster view
//! (`crate::cluster`). Without `cluster-enabled yes` each says "This
//! instance has cluster support disabled".

use super::{eq_ic, parse_int, Ctx, Handler};
use crate::cluster::{Cluster, MYSELF};
use crate::protocol::Reply;
use crate::store::slots::{key_slot, SLOTS};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "asking" => asking,
        "readonly" => readonly,
        "readwrite" => readwrite,
        "cluster|info" => info,
        "cluster|myid" => myid,
        "cluster|keyslot" => keyslot,
        "cluster|countkeysinslot" => countkeysinslot,
        "cluster|getkeysinslot" => getkeysinslot,
        "cluster|addslots" | "cluster|delslots" => addslots,
        "cluster|addslotsrange" | "cluster|delslotsrange" => addslotsrange,
        "cluster|flushslots" => flushslots,
        "cluster|nodes" => nodes,
        "cluster|slots" => slots,
        "cluster|shards" => shards,
        "cluster|setslot" => setslot,
        "cluster|bumpepoch" => bumpepoch,
        "cluster|set-config-epoch" => set_config_epoch,
        "cluster|forget" => forget,
        "cluster|replicas" | "cluster|slaves" => replicas,
        "cluster|count-failure-reports" => count_failure_reports,
        "cluster|failover" => failover,
        "cluster|reset" => reset,
        "cluster|links" => links,
        "cluster|help" => help,
        "cluster|meet" => meet,
        "cluster|replicate" => replicate,
        "cluster|saveconfig" => saveconfig,
        _ => return None,
    })
}

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// Runs `f` on the cluster view, or answers that cluster mode is off.
fn with(ctx: &mut Ctx, f: impl FnOnce(&mut Ctx) -> Reply) -> Reply {
    if ctx.srv.cluster.is_none() {
        return Reply::err(DISABLED);
    }
    f(ctx)
}

fn cl<'a>(ctx: &'a mut Ctx) -> &'a mut Cluster {
    ctx.srv.cluster.as_mut().expect("cluster mode checked")
}

/// The state is recomputed before the next command, as Redis does in
/// beforeSleep after a slot change.
fn update_state(ctx: &mut Ctx) {
    ctx.srv.cluster_config.1 = true;
    let full = ctx.srv.config.cluster_require_full_coverage();
    let now = ctx.now;
    cl(ctx).update_state(now, full);
}

fn asking(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        ctx.client_mut().asking = true;
        Reply::ok()
    })
}

fn readonly(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        ctx.client_mut().readonly = true;
        Reply::ok()
    })
}

fn readwrite(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        ctx.client_mut().readonly = false;
        Reply::ok()
    })
}

fn info(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        Reply::Verbatim("txt", cl(ctx).info().into_bytes())
    })
}

/// CLUSTER SAVECONFIG: nodes.conf written now (the runtime writes it
/// before the next input is read).
fn saveconfig(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        ctx.srv.cluster_config.1 = true;
        ctx.srv.cluster_config.2 = true;
        Reply::ok()
    })
}

fn myid(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        Reply::Bulk(cl(ctx).myself().id.clone().into_bytes())
    })
}

fn keyslot(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |_| Reply::Int(key_slot(&argv[2]) as i64))
}

fn countkeysinslot(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let slot = match parse_int(&argv[2]) {
            Ok(s) => s,
            Err(e) => return e,
        };
        if !(0..SLOTS as i64).contains(&slot) {
            return Reply::err("ERR Invalid slot");
        }
        Reply::Int(ctx.srv.ks.dbs[0].keys_in_slot(slot as u16) as i64)
    })
}

fn getkeysinslot(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let (slot, max) = match (parse_int(&argv[2]), parse_int(&argv[3])) {
            (Ok(s), Ok(m)) => (s, m),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        if !(0..SLOTS as i64).contains(&slot) || max < 0 {
            return Reply::err("ERR Invalid slot or number of keys");
        }
        let keys = ctx.srv.ks.dbs[0].slot_keys(slot as u16, max as usize);
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
    })
}

/// `getSlotOrReply`.
fn slot_of(arg: &[u8]) -> Result<u16, Reply> {
    match parse_int(arg) {
        Ok(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(Reply::err("ERR Invalid or out of range slot")),
    }
}

/// `checkSlotAssignmentsOrReply` then `clusterUpdateSlots` over `ranges`.
fn assign(ctx: &mut Ctx, ranges: &[(u16, u16)], del: bool) -> Reply {
    let c = cl(ctx);
    let mut seen = vec![false; SLOTS];
    for &(a, z) in ranges {
        for s in a..=z {
            if del && c.owner(s).is_none() {
                return Reply::err(format!("ERR Slot {s} is already unassigned"));
            }
            if !del && c.owner(s).is_some() {
                return Reply::err(format!("ERR Slot {s} is already busy"));
            }
            if std::mem::replace(&mut seen[s as usize], true) {
                return Reply::err(format!("ERR Slot {s} specified multiple times"));
            }
        }
    }
    for (s, _) in seen.iter().enumerate().filter(|(_, &on)| on) {
        let s = s as u16;
        c.importing.remove(&s);
        if del {
            c.migrating.remove(&s);
        }
        c.set_owner(s, (!del).then_some(MYSELF));
    }
    update_state(ctx);
    Reply::ok()
}

fn addslots(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let del = eq_ic(&argv[1], "delslots");
        let mut ranges = Vec::new();
        for a in &argv[2..] {
            match slot_of(a) {
                Ok(s) => ranges.push((s, s)),
                Err(e) => return e,
            }
        }
        assign(ctx, &ranges, del)
    })
}

fn addslotsrange(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let del = eq_ic(&argv[1], "delslotsrange");
        if argv.len() % 2 == 1 {
            return super::wrong_args(if del {
                "cluster|delslotsrange"
            } else {
                "cluster|addslotsrange"
            });
        }
        let mut ranges = Vec::new();
        for pair in argv[2..].chunks(2) {
            let (a, z) = match (slot_of(&pair[0]), slot_of(&pair[1])) {
                (Ok(a), Ok(z)) => (a, z),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if a > z {
                return Reply::err(format!(
                    "ERR start slot number {a} is greater than end slot number {z}"
                ));
            }
            ranges.push((a, z));
        }
        // Redis checks each range as it parses it: a later unparsable
        // range is reported only if the earlier ones were free.
        assign(ctx, &ranges, del)
    })
}

fn flushslots(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        if !ctx.srv.ks.dbs[0].is_empty() {
            return Reply::err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
        }
        let c = cl(ctx);
        for s in 0..SLOTS as u16 {
            if c.owner(s) == Some(MYSELF) {
                c.set_owner(s, None);
            }
        }
        update_state(ctx);
        Reply::ok()
    })
}

fn nodes(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        Reply::Verbatim("txt", cl(ctx).nodes_text().into_bytes())
    })
}

fn slots(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let offset = ctx.srv.repl.offset;
        cl(ctx).slots_reply(offset)
    })
}

fn shards(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let offset = ctx.srv.repl.offset as i64;
        cl(ctx).shards_reply(offset)
    })
}

fn setslot(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        if cl(ctx).is_replica() {
            return Reply::err("ERR Please use SETSLOT only with masters.");
        }
        let slot = match slot_of(&argv[2]) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let action = &argv[3];
        let keys_here = ctx.srv.ks.dbs[0].keys_in_slot(slot);
        let c = cl(ctx);
        // The node a MIGRATING / IMPORTING names: known, and a primary.
        let target = |c: &Cluster| -> Result<usize, Reply> {
            let id = &argv[4];
            let n = c.lookup(id).ok_or_else(|| {
                Reply::err(format!(
                    "ERR I don't know about node {}",
                    String::from_utf8_lossy(id)
                ))
            })?;
            if c.nodes[n].replica_of.is_some() {
                return Err(Reply::err("ERR Target node is not a master"));
            }
            Ok(n)
        };
        if eq_ic(action, "migrating") && argv.len() == 5 {
            if c.owner(slot) != Some(MYSELF) {
                return Reply::err(format!("ERR I'm not the owner of hash slot {slot}"));
            }
            match target(c) {
                Ok(n) => c.migrating.insert(slot, n),
                Err(e) => return e,
            };
        } else if eq_ic(action, "importing") && argv.len() == 5 {
            if c.owner(slot) == Some(MYSELF) {
                return Reply::err(format!("ERR I'm already the owner of hash slot {slot}"));
            }
            match target(c) {
                Ok(n) => c.importing.insert(slot, n),
                Err(e) => return e,
            };
        } else if eq_ic(action, "stable") && argv.len() == 4 {
            c.importing.remove(&slot);
            c.migrating.remove(&slot);
        } else if eq_ic(action, "node") && argv.len() == 5 {
            let Some(n) = c.lookup(&argv[4]) else {
                return Reply::err(format!(
                    "ERR Unknown node {}",
                    String::from_utf8_lossy(&argv[4])
                ));
            };
            if c.nodes[n].replica_of.is_some() {
                return Reply::err("ERR Target node is not a master");
            }
            if c.owner(slot) == Some(MYSELF) && n != MYSELF && keys_here != 0 {
                return Reply::err(format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                ));
            }
            if keys_here == 0 {
                c.migrating.remove(&slot);
            }
            c.set_owner(slot, Some(n));
            if n == MYSELF && c.importing.remove(&slot).is_some() {
                c.bump_epoch();
            }
        } else {
            return Reply::err(
                "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
            );
        }
        update_state(ctx);
        Reply::ok()
    })
}

fn bumpepoch(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let c = cl(ctx);
        let bumped = c.bump_epoch();
        Reply::Simple(format!(
            "{} {}",
            if bumped { "BUMPED" } else { "STILL" },
            c.myself().config_epoch
        ))
    })
}

fn set_config_epoch(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let epoch = match parse_int(&argv[2]) {
            Ok(e) => e,
            Err(e) => return e,
        };
        let c = cl(ctx);
        if epoch < 0 {
            return Reply::err(format!("ERR Invalid config epoch specified: {epoch}"));
        }
        if c.nodes.len() > 1 {
            return Reply::err(
                "ERR The user can assign a config epoch only when the node does not know any other node.",
            );
        }
        if c.myself().config_epoch != 0 {
            return Reply::err("ERR Node config epoch is already non-zero");
        }
        c.nodes[MYSELF].config_epoch = epoch as u64;
        c.current_epoch = c.current_epoch.max(epoch as u64);
        update_state(ctx);
        Reply::ok()
    })
}

fn unknown(id: &[u8]) -> Reply {
    Reply::err(format!("ERR Unknown node {}", String::from_utf8_lossy(id)))
}

fn forget(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let c = cl(ctx);
        match c.lookup(&argv[2]) {
            None => unknown(&argv[2]),
            Some(MYSELF) => Reply::err("ERR I tried hard but I can't forget myself..."),
            Some(n) if c.myself().replica_of == Some(n) => {
                Reply::err("ERR Can't forget my master!")
            }
            Some(n) => {
                ctx.srv.cluster_forget(n);
                update_state(ctx);
                Reply::ok()
            }
        }
    })
}

fn replicas(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let c = cl(ctx);
        let Some(n) = c.lookup(&argv[2]) else {
            return unknown(&argv[2]);
        };
        if c.nodes[n].replica_of.is_some() {
            return Reply::err("ERR The specified node is not a master");
        }
        Reply::Array(
            (0..c.nodes.len())
                .filter(|&r| c.nodes[r].replica_of == Some(n))
                .map(|r| Reply::Bulk(c.node_line(r).into_bytes()))
                .collect(),
        )
    })
}

fn count_failure_reports(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let timeout = ctx.srv.config.cluster_node_timeout();
        let now = ctx.now;
        let c = cl(ctx);
        match c.lookup(&argv[2]) {
            None => unknown(&argv[2]),
            Some(n) => {
                let reports = &mut c.nodes[n].fail_reports;
                reports.retain(|(_, at)| now.0.saturating_sub(*at) <= timeout * 2);
                Reply::Int(reports.len() as i64)
            }
        }
    })
}

fn failover(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        // TAKEOVER implies FORCE.
        let (force, takeover) = match argv.get(2) {
            None => (false, false),
            Some(o) if eq_ic(o, "force") => (true, false),
            Some(o) if eq_ic(o, "takeover") => (true, true),
            Some(_) => return super::err_syntax(),
        };
        let c = cl(ctx);
        let Some(p) = c.nodes[crate::cluster::MYSELF].replica_of else {
            return Reply::err("ERR You should send CLUSTER FAILOVER to a replica");
        };
        if !force && (c.failed(p) || c.nodes[p].link.is_none()) {
            return Reply::err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
        }
        if !takeover {
            ctx.srv.start_manual_failover(ctx.now, force);
            return Reply::ok();
        }
        ctx.srv.reset_manual_failover();
        let c = cl(ctx);
        c.bump_epoch();
        ctx.srv.cluster_take_over(ctx.events);
        update_state(ctx);
        Reply::ok()
    })
}

fn reset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let hard = match argv.get(2) {
            None => false,
            Some(a) if eq_ic(a, "hard") => true,
            Some(a) if eq_ic(a, "soft") => false,
            Some(_) => return super::err_syntax(),
        };
        let db = ctx.client().map_or(0, |c| c.db);
        if !cl(ctx).is_replica() && !ctx.srv.ks.dbs[db].is_empty() {
            return Reply::err(
                "ERR CLUSTER RESET can't be called with master nodes containing keys",
            );
        }
        let id = if hard {
            ctx.srv.rng.hex40()
        } else {
            cl(ctx).myself().id.clone()
        };
        let me = cl(ctx).myself().clone();
        let mut fresh = Cluster::new(id, me.port, me.cport);
        fresh.nodes[MYSELF].ip = me.ip;
        if !hard {
            fresh.current_epoch = cl(ctx).current_epoch;
            fresh.nodes[MYSELF].config_epoch = me.config_epoch;
        }
        let old = std::mem::replace(cl(ctx), fresh);
        // Links to the nodes forgotten close; connections other nodes
        // opened stay, as nobody's until they speak again.
        for &link in old.outbound.keys() {
            ctx.srv
                .migrate
                .out
                .push(super::migrate::LinkOut::Close { link });
        }
        cl(ctx).inbound = old
            .inbound
            .into_iter()
            .map(|(conn, mut b)| {
                b.node = None;
                (conn, b)
            })
            .collect();
        update_state(ctx);
        Reply::ok()
    })
}

/// CLUSTER REPLICATE: this node (empty, serving no slot) becomes a replica
/// of a known primary, replicating from its address.
fn replicate(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        let c = cl(ctx);
        let Some(n) = c.lookup(&argv[2]) else {
            return unknown(&argv[2]);
        };
        if n == MYSELF {
            return Reply::err("ERR Can't replicate myself");
        }
        if c.nodes[n].replica_of.is_some() {
            return Reply::err("ERR I can only replicate a master, not a replica.");
        }
        let serving = c.slot_count(MYSELF) > 0;
        if !c.is_replica() && (serving || !ctx.srv.ks.dbs[0].is_empty()) {
            return Reply::err(
                "ERR To set a master the node must be empty and without assigned slots.",
            );
        }
        ctx.srv.cluster_set_master(ctx.now, n, ctx.events);
        update_state(ctx);
        Reply::ok()
    })
}

/// CLUSTER MEET ip port [bus-port]: a handshake starts; the cron links.
fn meet(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    with(ctx, |ctx| {
        if argv.len() != 4 && argv.len() != 5 {
            return super::wrong_args("cluster|meet");
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let Ok(port) = parse_int(&argv[3]) else {
            return Reply::err(format!(
                "ERR Invalid TCP base port specified: {}",
                text(&argv[3])
            ));
        };
        let cport = match argv.get(4) {
            None => port + super::super::cluster::gossip::PORT_INCR as i64,
            Some(c) => match parse_int(c) {
                Ok(c) => c,
                Err(_) => {
                    return Reply::err(format!("ERR Invalid TCP bus port specified: {}", text(c)))
                }
            },
        };
        let ip = text(&argv[2]);
        let valid = |p: i64| (1..=65535).contains(&p);
        let now = ctx.now;
        cl(ctx).now = now;
        if !valid(port) || !valid(cport) || !ctx.srv.cluster_meet(&ip, port as u16, cport as u16) {
            return Reply::err(format!(
                "ERR Invalid node address specified: {ip}:{}",
                text(&argv[3])
            ));
        }
        Reply::ok()
    })
}

fn links(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    // Links to other nodes come with the cluster bus.
    with(ctx, |_| Reply::Array(Vec::new()))
}

/// CLUSTER HELP, `clusterCommand`'s text.
fn help(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    with(ctx, |_| {
        let lines = [
            "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "    Assign slots to current node.",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Assign slots which are between <start-slot> and <end-slot> to current node.",
        "BUMPEPOCH",
        "    Advance the cluster config epoch.",
        "COUNT-FAILURE-REPORTS <node-id>",
        "    Return number of failure reports for <node-id>.",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "DELSLOTS <slot> [<slot> ...]",
        "    Delete slots information from current node.",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
        "FAILOVER [FORCE|TAKEOVER]",
        "    Promote current replica node to being a master.",
        "FORGET <node-id>",
        "    Remove a node from the cluster.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "FLUSHSLOTS",
        "    Delete current node own slots information.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MEET <ip> <port> [<bus-port>]",
        "    Connect nodes into a working cluster.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "REPLICATE <node-id>",
        "    Configure current node as replica to <node-id>.",
        "RESET [HARD|SOFT]",
        "    Reset current node (default: soft).",
        "SET-CONFIG-EPOCH <epoch>",
        "    Set config epoch of current node.",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "    Set slot state.",
        "REPLICAS <node-id>",
        "    Return <node-id> replicas.",
        "SAVECONFIG",
        "    Force saving cluster configuration on disk.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "    Output format is an array where each array element is a map containing attributes of a link",
            "HELP",
            "    Prints this help.",
        ];
        Reply::Array(lines.iter().map(|l| Reply::Simple(l.to_string())).collect())
    })
}
