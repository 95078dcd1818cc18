//! The language of lab setups and reference solutions: one step per line,
//! what a learner would do in the playground.
//!
//! * `SET k v` — a command in the console, through the primary endpoint;
//!   `@reader GET k`, `@demo-002 INFO replication` through another
//!   endpoint or a node's own endpoint.
//! * `mc 0002 get k` — a memcached command to one node; `mc client get k`
//!   through the application's auto-discovery client (its hashing picks
//!   the node).
//! * `!failover` (TestFailover), `!kill primary|demo-002`, `!reboot …`,
//!   `!add-replica [az]`, `!remove-replica demo-003`, `!multi-az on|off`,
//!   `!isolate …`, `!heal`, `!az-down us-east-1a`, `!az-up …`,
//!   `!wait 30s|500ms|2min` (virtual time passes), and for Memcached
//!   `!mc-add`, `!mc-remove 0003`, `!mc-kill 0002`, `!mc-replace 0002`,
//!   `!mc-discover` (the client polls the configuration endpoint now).
//! * Backups: `!backup NAME` (CreateSnapshot), `!delete-backup NAME`,
//!   `!copy-backup SRC DST`, `!export-backup NAME` (to the bucket),
//!   `!backup-policy 03:00-04:00 7` (window and retention days; the window
//!   `next` opens at the group clock's next minute, for an hour),
//!   `!restore NAME NEW-GROUP` (a new group seeded from the backup; send
//!   to it with `@NEW-GROUP GET k`).
//! * Cluster mode enabled (`kind = "cluster"`): commands go to a node
//!   (`@demo-0002-001 GET k`, which may answer MOVED), to the
//!   configuration endpoint (`@config CLUSTER SLOTS`: any node), or through
//!   a cluster client that follows MOVED and ASK (`@cluster GET k`, as
//!   `redis-cli -c` and redis-py's RedisCluster do; also the default).
//!   `!scale-out N` (shards added), `!scale-in 0002` (a shard removed),
//!   `!rebalance`, `!reshard 0001 0003 100` (slots from one shard to
//!   another), `!failover 0002` (TestFailover of a shard),
//!   `!add-replica 0002`, `!remove-replica demo-0002-003`,
//!   `!kill demo-0001-001`, `!isolate …`, `!heal`, `!wait …`.
//! * A client that stays connected (a subscriber; replication groups on
//!   the simulator): `sub> SUBSCRIBE news` sends on the connection named
//!   `sub`, opened through the primary endpoint the first time it is used
//!   (`sub@reader> …`, `sub@demo-002> …` through another); `sub>` alone
//!   shows what has arrived on it since (messages pushed to it); `sub> QUIT`
//!   hangs up.

/// `set k 0 300 hello` → the protocol's `set k 0 300 5\r\nhello\r\n`.
pub fn memcached_bytes(line: &str) -> Vec<u8> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let storage = matches!(
        words.first().map(|w| w.to_ascii_lowercase()).as_deref(),
        Some("set" | "add" | "replace" | "append" | "prepend")
    );
    if storage && words.len() >= 5 {
        let value = words[4..].join(" ");
        format!(
            "{} {} {} {} {}\r\n{value}\r\n",
            words[0],
            words[1],
            words[2],
            words[3],
            value.len()
        )
        .into_bytes()
    } else {
        format!("{line}\r\n").into_bytes()
    }
}

/// A control-plane action or a fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    TestFailover,
    /// TestFailover of one shard of a cluster-mode group ("0002").
    FailoverShard(String),
    /// Shards added (cluster mode).
    ScaleOut(usize),
    /// A shard removed, its slots moved to the others ("0002").
    ScaleIn(String),
    Rebalance,
    /// `slots` hash slots moved from one shard to another.
    Reshard {
        from: String,
        to: String,
        slots: usize,
    },
    Kill(String),
    Reboot(String),
    AddReplica(Option<String>),
    RemoveReplica(String),
    MultiAz(bool),
    Isolate(String),
    /// The network between two nodes only (both ways): a replica's link to
    /// its primary breaks while the control plane still reaches both.
    Cut(String, String),
    Heal,
    Az {
        az: String,
        up: bool,
    },
    Wait(u64),
    McAdd,
    McRemove(String),
    McKill(String),
    McReplace(String),
    McDiscover,
    Backup(String),
    DeleteBackup(String),
    CopyBackup {
        source: String,
        target: String,
    },
    ExportBackup(String),
    BackupPolicy {
        window: String,
        retention_days: u32,
    },
    Restore {
        backup: String,
        group: String,
    },
    /// DeleteReplicationGroup of a restored group, with a final backup
    /// when named.
    DeleteGroup {
        group: String,
        final_backup: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A Redis command through `via` (primary, reader, or a node name).
    Command {
        via: String,
        argv: Vec<Vec<u8>>,
    },
    /// A memcached text command (`node`: an id such as 0002, or client).
    Memcached {
        node: String,
        line: String,
    },
    /// A command on a connection that stays open (`sub> SUBSCRIBE news`),
    /// opened through `via` on first use; no `argv`: read what arrived.
    Session {
        name: String,
        via: String,
        argv: Vec<Vec<u8>>,
    },
    Act(Action),
}

/// A backup window as ModifyReplicationGroup takes it: `spec` itself, or
/// for `next` the hour starting at the minute after `now` (UTC).
pub fn backup_window(spec: &str, now: cachelab_engine::Millis) -> String {
    if spec != "next" {
        return spec.to_string();
    }
    let minute = (now.0 / 60_000 + 1) % (24 * 60);
    let end = (minute + 60) % (24 * 60);
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        minute / 60,
        minute % 60,
        end / 60,
        end % 60
    )
}

/// "30s", "500ms", "2min", "1500" (ms).
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a duration (30s, 500ms, 2min)");
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix("min") {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else {
        (s, 1)
    };
    num.parse::<u64>().map(|n| n * mul).map_err(|_| bad())
}

impl Step {
    pub fn parse(line: &str) -> Result<Step, String> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('!') {
            let mut w = rest.split_whitespace();
            let verb = w.next().unwrap_or("");
            let arg = w.next().map(str::to_string);
            let arg2 = w.next().map(str::to_string);
            let need = |a: Option<String>| a.ok_or_else(|| format!("!{verb} needs an argument"));
            let action = match verb {
                "failover" => match arg {
                    Some(shard) => Action::FailoverShard(shard),
                    None => Action::TestFailover,
                },
                "scale-out" => Action::ScaleOut(
                    need(arg)?
                        .parse()
                        .map_err(|_| "!scale-out SHARDS (a number)".to_string())?,
                ),
                "scale-in" => Action::ScaleIn(need(arg)?),
                "rebalance" => Action::Rebalance,
                "reshard" => Action::Reshard {
                    from: need(arg)?,
                    to: need(arg2)?,
                    slots: w
                        .next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("!reshard FROM-SHARD TO-SHARD SLOTS")?,
                },
                "kill" => Action::Kill(need(arg)?),
                "reboot" => Action::Reboot(need(arg)?),
                "add-replica" => Action::AddReplica(arg),
                "remove-replica" => Action::RemoveReplica(need(arg)?),
                "multi-az" => match arg.as_deref() {
                    Some("on") => Action::MultiAz(true),
                    Some("off") => Action::MultiAz(false),
                    _ => return Err("!multi-az on|off".into()),
                },
                "isolate" => Action::Isolate(need(arg)?),
                "cut" => Action::Cut(need(arg)?, need(arg2)?),
                "heal" => Action::Heal,
                "az-down" => Action::Az {
                    az: need(arg)?,
                    up: false,
                },
                "az-up" => Action::Az {
                    az: need(arg)?,
                    up: true,
                },
                "wait" => Action::Wait(parse_duration(&need(arg)?)?),
                "mc-add" => Action::McAdd,
                "mc-remove" => Action::McRemove(need(arg)?),
                "mc-kill" => Action::McKill(need(arg)?),
                "mc-replace" => Action::McReplace(need(arg)?),
                "mc-discover" => Action::McDiscover,
                "backup" => Action::Backup(need(arg)?),
                "delete-backup" => Action::DeleteBackup(need(arg)?),
                "copy-backup" => Action::CopyBackup {
                    source: need(arg)?,
                    target: need(arg2)?,
                },
                "export-backup" => Action::ExportBackup(need(arg)?),
                "backup-policy" => Action::BackupPolicy {
                    window: need(arg)?,
                    retention_days: need(arg2)?
                        .parse()
                        .map_err(|_| "!backup-policy WINDOW DAYS".to_string())?,
                },
                "restore" => Action::Restore {
                    backup: need(arg)?,
                    group: need(arg2)?,
                },
                "delete-group" => Action::DeleteGroup {
                    group: need(arg)?,
                    final_backup: arg2,
                },
                _ => return Err(format!("unknown action !{verb}")),
            };
            return Ok(Step::Act(action));
        }
        if let Some(rest) = line.strip_prefix("mc ") {
            let (node, cmd) = rest.trim().split_once(' ').ok_or("mc NODE COMMAND")?;
            return Ok(Step::Memcached {
                node: node.to_string(),
                line: cmd.trim().to_string(),
            });
        }
        if let Some(step) = Step::session(line)? {
            return Ok(step);
        }
        let (via, cmd) = match line.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').ok_or("@ENDPOINT COMMAND")?,
            None => ("primary", line),
        };
        let argv = cachelab_engine::protocol::split_args(cmd.as_bytes())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("{cmd:?} is not a command line"))?;
        Ok(Step::Command {
            via: via.to_string(),
            argv,
        })
    }

    /// `NAME> CMD…`, `NAME@VIA> CMD…` or `NAME>`: a session line (its
    /// first word ends in `>`; a name is lowercase a-z, 0-9 and '-').
    fn session(line: &str) -> Result<Option<Step>, String> {
        let (head, cmd) = line.split_once(' ').unwrap_or((line, ""));
        let Some(head) = head.strip_suffix('>') else {
            return Ok(None);
        };
        let (name, via) = head.split_once('@').unwrap_or((head, "primary"));
        let named = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !named(name) || via.is_empty() {
            return Err(format!(
                "{head:?}: a session is named in lowercase a-z, 0-9 and '-' (sub> CMD, sub@reader> CMD)"
            ));
        }
        let argv = cachelab_engine::protocol::split_args(cmd.trim().as_bytes())
            .ok_or_else(|| format!("{cmd:?} is not a command line"))?;
        Ok(Some(Step::Session {
            name: name.to_string(),
            via: via.to_string(),
            argv,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse() {
        assert_eq!(
            Step::parse("SET k 'a b'").unwrap(),
            Step::Command {
                via: "primary".into(),
                argv: vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]
            }
        );
        assert!(
            matches!(Step::parse("@reader GET k"), Ok(Step::Command { via, .. }) if via == "reader")
        );
        assert_eq!(
            Step::parse("!wait 2min").unwrap(),
            Step::Act(Action::Wait(120_000))
        );
        assert_eq!(
            Step::parse("!kill primary").unwrap(),
            Step::Act(Action::Kill("primary".into()))
        );
        assert!(Step::parse("!explode").is_err());
        assert_eq!(
            Step::parse("sub@reader> SUBSCRIBE news").unwrap(),
            Step::Session {
                name: "sub".into(),
                via: "reader".into(),
                argv: vec![b"SUBSCRIBE".to_vec(), b"news".to_vec()]
            }
        );
        assert_eq!(
            Step::parse("sub>").unwrap(),
            Step::Session {
                name: "sub".into(),
                via: "primary".into(),
                argv: vec![]
            }
        );
        assert!(Step::parse("Sub> PING").is_err());
        assert!(Step::parse("sub@> PING").is_err());
        assert_eq!(
            Step::parse("!backup-policy 03:00-04:00 7").unwrap(),
            Step::Act(Action::BackupPolicy {
                window: "03:00-04:00".into(),
                retention_days: 7
            })
        );
        assert!(Step::parse("!restore only-one").is_err());
        assert!(Step::parse("!kill").is_err());
        assert_eq!(
            Step::parse("mc client set k 0 0 1").unwrap(),
            Step::Memcached {
                node: "client".into(),
                line: "set k 0 0 1".into()
            }
        );
    }
}
