//! REPLICAOF / SLAVEOF, ROLE and WAIT. The replication machinery itself is
//! in `crate::replication`.

use super::{eq_ic, err_not_int, parse_int, Ctx, Handler};
use crate::node::{link_name, Blocked};
use crate::protocol::Reply;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "replicaof" | "slaveof" => replicaof,
        "role" => role,
        "wait" => wait,
        "debug" => debug,
        _ => return None,
    })
}

fn replicaof(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
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
    ctx.client_mut().blocked = Some(Blocked::Wait {
        numreplicas: numreplicas as usize,
        offset,
        deadline,
        unblock_error: false,
    });
    ctx.srv.request_acks();
    // The reply is sent when the client is unblocked.
    Reply::Int(acks as i64)
}
