//! REPLICAOF / SLAVEOF, ROLE and WAIT, and the primary's side of Redis's
//! replication handshake for replicas on client connections (a real
//! redis-server, `redis-cli --replica`): REPLCONF, PSYNC and SYNC. The
//! replication machinery itself is in `crate::replication`.

use super::{eq_ic, err_not_int, parse_int, Ctx, Handler};
use crate::node::{link_name, Blocked};
use crate::protocol::Reply;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "replicaof" | "slaveof" => replicaof,
        "role" => role,
        "wait" => wait,
        "debug" => debug,
        "replconf" => replconf,
        "psync" | "sync" => sync,
        _ => return None,
    })
}

fn replicaof(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    // A cluster's replicas are set by CLUSTER REPLICATE.
    if ctx.srv.cluster.is_some() {
        return Reply::err("ERR REPLICAOF not allowed in cluster mode.");
    }
    let now = ctx.now;
    if eq_ic(&argv[1], "no") && eq_ic(&argv[2], "one") {
        ctx.srv.replicaof_no_one(ctx.events);
        return Reply::ok();
    }
    let port = match parse_int(&argv[2]) {
        Ok(p) if (0..=65535).contains(&p) => p as u16,
        _ => return Reply::err("ERR Invalid master port"),
    };
    let host = String::from_utf8_lossy(&argv[1]).into_owned();
    if ctx.srv.replicaof(&host, port, now, ctx.events) {
        Reply::ok()
    } else {
        Reply::Simple("OK Already connected to specified master".into())
    }
}

/// The DEBUG subcommands tests need (the rest answer as unknown).
fn debug(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match (sub.as_str(), argv.len()) {
        ("set-active-expire", 3) => {
            // Redis reads the flag with atoi: anything not a number is 0.
            let digits: String = String::from_utf8_lossy(&argv[2])
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            ctx.srv.active_expire = digits.parse::<i64>().unwrap_or(0) != 0;
            Reply::ok()
        }
        // Time is virtual: nothing to wait for.
        ("sleep", 3) => Reply::ok(),
        // Redis's own digest algorithm: comparable with redis-server's.
        ("digest", 2) => Reply::Simple(crate::digest::hex(&crate::digest::dataset(&ctx.srv.ks))),
        ("digest-value", _) => {
            let db = ctx.db_index();
            let d = &ctx.srv.ks.dbs[db];
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|k| {
                        let v = d.peek(k).map(|e| &e.value);
                        let has_expire = d.expire_at(k).is_some();
                        Reply::Simple(crate::digest::hex(&crate::digest::key_value(v, has_expire)))
                    })
                    .collect(),
            )
        }
        ("change-repl-id", 2) => {
            ctx.srv.repl.replid = ctx.srv.rng.hex40();
            ctx.srv.repl.replid2 = crate::replication::NO_REPLID.into();
            ctx.srv.repl.second_offset = -1;
            Reply::ok()
        }
        // Save and load the dataset again (an RDB round trip, in memory).
        ("reload", 2) => {
            let meta = crate::persistence::rdb::Meta {
                repl_id: ctx.srv.repl.replid.clone(),
                repl_offset: ctx.srv.repl.offset,
            };
            let now = ctx.now;
            let file = crate::commands::persist::file(ctx.srv, &meta, now);
            let fresh = ctx.srv.fresh_keyspace();
            let lim = ctx.srv.config.encoding_limits();
            match crate::persistence::rdb::load(&file, || fresh, &lim, now) {
                Ok((ks, _)) => {
                    ctx.srv.ks = ks;
                    ctx.srv.set_db_modes();
                    Reply::ok()
                }
                Err(e) => Reply::err(format!("ERR Error trying to load the RDB dump: {}", e.0)),
            }
        }
        _ => Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

fn role(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let r = &ctx.srv.repl;
    match &r.master {
        None => Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Int(r.offset as i64),
            Reply::Array(
                r.replicas
                    .iter()
                    .map(|(addr, l)| {
                        let (ip, port) = addr.rsplit_once(':').unwrap_or((addr, "0"));
                        Reply::Array(vec![
                            Reply::bulk(ip),
                            Reply::bulk(port),
                            Reply::bulk(l.ack_offset.to_string()),
                        ])
                    })
                    .collect(),
            ),
        ]),
        Some(m) => Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::bulk(&m.host),
            Reply::Int(m.port as i64),
            Reply::bulk(link_name(m.state)),
            Reply::Int(if r.link_up() { r.offset as i64 } else { -1 }),
        ]),
    }
}

fn wait(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if ctx.srv.repl.is_replica() {
        return Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Ok(numreplicas) = parse_int(&argv[1]) else {
        return err_not_int();
    };
    let Some(timeout) = crate::protocol::request::parse_i64_strict(&argv[2]) else {
        return Reply::err("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return Reply::err("ERR timeout is negative");
    }
    let offset = ctx.client().map(|c| c.woff).unwrap_or(0);
    let acks = ctx.srv.repl.count_acks(offset);
    if acks as i64 >= numreplicas {
        return Reply::Int(acks as i64);
    }
    let deadline = (timeout > 0).then(|| ctx.now.plus(timeout as u64));
    ctx.block(Blocked::Wait {
        numreplicas: numreplicas as usize,
        offset,
        deadline,
        unblock_error: false,
    });
    ctx.srv.request_acks();
    // The reply is sent when the client is unblocked.
    Reply::Int(acks as i64)
}

/// REPLCONF option value …: what a replica tells its primary (listening
/// port, address, capabilities) and its acknowledgements, as
/// `replconfCommand` answers them.
fn replconf(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len().is_multiple_of(2) {
        return Reply::err("ERR syntax error");
    }
    let is_replica = ctx.srv.is_replica_conn(ctx.conn);
    for pair in argv[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if eq_ic(opt, "listening-port") {
            let Ok(port) = parse_int(val) else {
                return err_not_int();
            };
            ctx.client_mut().repl_hello.listening_port = Some(port.clamp(0, 65535) as u16);
        } else if eq_ic(opt, "ip-address") {
            // NET_HOST_STR_LEN: 256 including the terminator.
            if val.len() >= 256 {
                return Reply::err(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                ));
            }
            ctx.client_mut().repl_hello.ip_address =
                Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ic(opt, "capa") {
            // Capabilities this primary does not know are ignored.
            if eq_ic(val, "eof") {
                ctx.client_mut().repl_hello.capa_eof = true;
            } else if eq_ic(val, "psync2") {
                ctx.client_mut().repl_hello.capa_psync2 = true;
            }
        } else if eq_ic(opt, "ack") {
            // From a replica only, and never answered.
            if is_replica {
                if let Some(off) = crate::protocol::request::parse_i64_strict(val) {
                    let now = ctx.now;
                    ctx.srv.client_replica_ack(now, ctx.conn, off.max(0) as u64);
                }
            }
            return Reply::Seq(Vec::new());
        } else if eq_ic(opt, "getack") {
            // Asked of a replica by its primary; this node answers its own
            // primary with ACKs on its link.
            return Reply::Seq(Vec::new());
        } else if eq_ic(opt, "rdb-only") {
            match parse_int(val) {
                Ok(0 | 1) => {}
                Ok(_) => {
                    return Reply::err("ERR value is out of range, value must between 0 and 1")
                }
                Err(_) => return err_not_int(),
            }
        } else if eq_ic(opt, "rdb-filter-only") {
            let filters = crate::protocol::split_args(val);
            let Some(filters) = filters else {
                return Reply::err("ERR Missing rdb-filter-only values");
            };
            if let Some(bad) = filters.iter().find(|f| !eq_ic(f, "functions")) {
                return Reply::err(format!(
                    "ERR Unsupported rdb-filter-only option: {}",
                    String::from_utf8_lossy(bad)
                ));
            }
        } else {
            return Reply::err(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    Reply::ok()
}

/// PSYNC replid offset / SYNC (`syncCommand`): this connection becomes a
/// replica. The answer (`+FULLRESYNC` and the RDB, or `+CONTINUE` and the
/// backlog) and then the stream are written as raw bytes; nothing else is
/// ever replied to it.
fn sync(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if ctx.srv.is_replica_conn(ctx.conn) {
        return Reply::Seq(Vec::new());
    }
    let psync = eq_ic(&argv[0], "psync");
    if psync && argv.len() > 3 && eq_ic(&argv[3], "failover") {
        if !ctx.srv.repl.is_replica() {
            return Reply::err("ERR PSYNC FAILOVER can't be sent to a master.");
        }
        if argv[1] != ctx.srv.repl.replid.as_bytes() {
            return Reply::err("ERR PSYNC FAILOVER replid must match my replid.");
        }
        ctx.srv.replicaof_no_one(ctx.events);
    }
    if ctx.srv.repl.is_replica() && !ctx.srv.repl.link_up() {
        return Reply::err("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    let hello = ctx
        .client()
        .map(|c| c.repl_hello.clone())
        .unwrap_or_default();
    let offset = if psync {
        match crate::protocol::request::parse_i64_strict(&argv[2]) {
            Some(o) => Some(o),
            None => return err_not_int(),
        }
    } else {
        None
    };
    // The replica's name: its announced address and listening port.
    let peer_ip = ctx
        .client()
        .and_then(|c| c.peer.rsplit_once(':').map(|(ip, _)| ip.to_string()))
        .unwrap_or_default();
    let ip = hello.ip_address.clone().unwrap_or(peer_ip);
    let name = format!("{ip}:{}", hello.listening_port.unwrap_or(0));
    // Effects of the commands before this one are in the stream first.
    ctx.srv.propagate();
    let replid = String::from_utf8_lossy(&argv[1]).into_owned();
    let (now, conn) = (ctx.now, ctx.conn);
    let bytes = ctx.srv.psync_client(
        now,
        conn,
        &name,
        &hello,
        offset.map(|o| (replid.as_str(), o)),
        ctx.events,
    );
    ctx.srv.repl.client_out.push((conn, bytes));
    // Nothing more is ever replied to a replica (REPLCONF ACKs included).
    ctx.client_mut().reply_mode = crate::node::ReplyMode::Off;
    Reply::Seq(Vec::new())
}
