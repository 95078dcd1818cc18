//! The operations commands on virtual time: CLIENT PAUSE (WRITE and ALL)
//! holding commands in the query buffer until the pause ends, with no key
//! expiring meanwhile; MONITOR's lines in execution order; SLOWLOG's
//! entries; INFO commandstats and errorstats counting calls, rejected and
//! failed calls as Redis does. Expected texts were checked against
//! redis-server 7.0.15.

mod common;

use common::Harness;

#[test]
fn client_pause_write_holds_writes_until_it_ends() {
    let mut h = Harness::new(7);
    assert_eq!(h.on(1, "SET k v PX 100"), "+OK\r\n");
    assert_eq!(h.on(1, "CLIENT PAUSE 1000 WRITE"), "+OK\r\n");
    // A read runs; a write waits (no reply), and so does what follows it.
    assert_eq!(h.on(2, "GET k"), "$1\r\nv\r\n");
    assert_eq!(h.on(2, "SET k w"), "");
    assert_eq!(h.on(2, "GET k"), "");
    assert!(h.info("clients").contains("blocked_clients:1\r\n"));
    // A refused command is answered at once.
    assert_eq!(
        h.on(3, "SET k"),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    // The TTL passes during the pause: the key reads as gone but stays.
    h.advance(200);
    assert_eq!(h.on(3, "EXISTS k"), ":0\r\n");
    assert!(h.info("keyspace").contains("db0:keys=1,"));
    // The pause ends: the held SET runs, then the GET behind it.
    let out = h.advance(900);
    assert_eq!(out[2], "+OK\r\n$1\r\nw\r\n");
    assert!(h.info("clients").contains("blocked_clients:0\r\n"));
}

#[test]
fn client_pause_all_and_unpause() {
    let mut h = Harness::new(7);
    assert_eq!(
        h.on(1, "CLIENT PAUSE 10 NONE"),
        "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
    );
    assert_eq!(h.on(1, "CLIENT PAUSE -1"), "-ERR timeout is negative\r\n");
    assert_eq!(h.on(1, "CLIENT PAUSE 100000"), "+OK\r\n");
    assert_eq!(h.on(2, "PING"), "");
    // Under ALL the pausing client is held too: another connection's
    // UNPAUSE is held as well, so the pause runs its course…
    assert_eq!(h.on(1, "PING"), "");
    let out = h.advance(100_001);
    assert_eq!(out[2], "+PONG\r\n");
    assert_eq!(out[1], "+PONG\r\n");
    // …while a WRITE pause lets CLIENT UNPAUSE through.
    assert_eq!(h.on(1, "CLIENT PAUSE 100000 WRITE"), "+OK\r\n");
    assert_eq!(h.on(2, "INCR n"), "");
    let out = h.send(3, "CLIENT UNPAUSE");
    assert_eq!(out[3], "+OK\r\n");
    assert_eq!(out[2], ":1\r\n");
}

#[test]
fn monitor_shows_commands_in_execution_order() {
    let mut h = Harness::new(7);
    assert_eq!(h.on(3, "MONITOR"), "+OK\r\n");
    let ts = format!("{}.{:06}", h.now.0 / 1000, (h.now.0 % 1000) * 1000);
    // Each line goes out as its command runs; CONFIG (admin) is not shown.
    let all: String = [
        "SET foo \"a b\"",
        "MULTI",
        "INCR n",
        "EXEC",
        "CONFIG GET hz",
        "AUTH x",
    ]
    .iter()
    .map(|l| h.send(1, l)[3].clone())
    .collect();
    let peer = "[0 127.0.0.1:50001]";
    assert_eq!(
        all,
        format!(
            "+{ts} {peer} \"SET\" \"foo\" \"a b\"\r\n+{ts} {peer} \"MULTI\"\r\n+{ts} {peer} \"INCR\" \"n\"\r\n+{ts} {peer} \"EXEC\"\r\n+{ts} {peer} \"AUTH\" \"(redacted)\"\r\n"
        )
    );
    // A monitor may not touch the keyspace; RESET ends monitoring.
    assert_eq!(
        h.on(3, "GET foo"),
        "-ERR Replica can't interact with the keyspace\r\n"
    );
    assert_eq!(h.on(3, "RESET"), "+RESET\r\n");
    assert_eq!(h.on(1, "PING"), "+PONG\r\n");
    assert_eq!(h.send(1, "PING")[3], "");
}

#[test]
fn slowlog_logs_trims_and_redacts() {
    let mut h = Harness::new(7);
    assert_eq!(h.on(1, "SLOWLOG LEN"), ":0\r\n");
    h.on(1, "CONFIG SET slowlog-log-slower-than 0");
    h.on(1, "CONFIG SET slowlog-max-len 3");
    h.on(1, "SLOWLOG RESET");
    h.on(1, "CLIENT SETNAME me");
    h.on(1, "MULTI");
    h.on(1, "SET a 1");
    h.on(1, "EXEC");
    assert_eq!(h.on(1, "SLOWLOG LEN"), ":3\r\n");
    let t = h.now.0 / 1000;
    // Newest first (ids count every entry ever logged: the two CONFIG SETs,
    // SLOWLOG RESET, CLIENT SETNAME, MULTI, SET, SLOWLOG LEN); EXEC is not
    // logged, the commands it ran are.
    assert_eq!(
        h.on(1, "SLOWLOG GET 2"),
        format!(
            "*2\r\n*6\r\n:6\r\n:{t}\r\n:0\r\n*2\r\n$7\r\nSLOWLOG\r\n$3\r\nLEN\r\n$15\r\n127.0.0.1:50001\r\n$2\r\nme\r\n*6\r\n:5\r\n:{t}\r\n:0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$15\r\n127.0.0.1:50001\r\n$2\r\nme\r\n"
        )
    );
    assert_eq!(
        h.on(1, "SLOWLOG GET -2"),
        "-ERR count should be greater than or equal to -1\r\n"
    );
    h.on(1, "CONFIG SET slowlog-log-slower-than -1");
    h.on(1, "SLOWLOG RESET");
    h.on(1, "PING");
    assert_eq!(h.on(1, "SLOWLOG LEN"), ":0\r\n");
}

#[test]
fn commandstats_and_errorstats_count_like_redis() {
    let mut h = Harness::new(7);
    h.on(1, "SET a 1");
    h.on(1, "SET a");
    h.on(1, "LPUSH a x");
    h.on(1, "NOSUCHCOMMAND");
    h.on(1, "CONFIG NOSUCH");
    h.on(1, "MULTI");
    h.on(1, "GET");
    h.on(1, "EXEC");
    let stats = h.info("commandstats");
    assert!(stats.starts_with("$"));
    assert!(stats.contains(
        "cmdstat_set:calls=1,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
    ));
    assert!(stats.contains(
        "cmdstat_lpush:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1\r\n"
    ));
    assert!(stats.contains(
        "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
    ));
    assert!(stats.contains(
        "cmdstat_exec:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1\r\n"
    ));
    let errors = h.info("errorstats");
    assert!(errors.contains("errorstat_ERR:count=4\r\n"), "{errors}");
    assert!(
        errors.contains("errorstat_EXECABORT:count=1\r\n"),
        "{errors}"
    );
    assert!(
        errors.contains("errorstat_WRONGTYPE:count=1\r\n"),
        "{errors}"
    );
    assert!(h.info("stats").contains("total_error_replies:6\r\n"));
    // The default sections include errorstats; everything adds commandstats.
    assert!(h.on(1, "INFO").contains("# Errorstats\r\n"));
    assert!(!h.on(1, "INFO").contains("# Commandstats\r\n"));
    assert!(h.on(1, "INFO everything").contains("# Commandstats\r\n"));
    h.on(1, "CONFIG RESETSTAT");
    assert!(!h.info("errorstats").contains("errorstat_ERR"));
}

#[test]
fn a_huge_repeating_random_reply_is_refused() {
    let mut h = Harness::new(3);
    h.on(1, "SADD s a b c");
    assert_eq!(
        h.on(1, "SRANDMEMBER s -9223372036854775807"),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        h.on(1, "ZRANDMEMBER s -20000000"),
        "-ERR value is out of range\r\n"
    );
    assert!(h.on(1, "SRANDMEMBER s -5").starts_with("*5\r\n"));
    // A huge positive count is bounded by the collection's size.
    assert!(h
        .on(1, "SRANDMEMBER s 9223372036854775807")
        .starts_with("*3\r\n"));
}

#[test]
fn pubsub_pushes_reach_a_client_with_replies_off() {
    let mut h = Harness::new(5);
    h.on(1, "CONFIG SET notify-keyspace-events KA");
    assert_eq!(h.on(2, "CLIENT REPLY OFF"), "");
    assert_eq!(
        h.on(2, "PSUBSCRIBE *"),
        "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"
    );
    let out = h.send(1, "SET foo bar");
    assert_eq!(
        out[2],
        "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n"
    );
    // Ordinary replies stay off.
    assert_eq!(h.on(2, "PING"), "");
}

#[test]
fn exec_over_maxmemory_aborts_and_a_lower_maxmemory_evicts_at_once() {
    let mut h = Harness::new(6);
    h.on(1, "MULTI");
    h.on(1, "SET x 1");
    h.on(2, "CONFIG SET maxmemory 1");
    assert_eq!(
        h.on(1, "EXEC"),
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(h.on(1, "PING"), "+PONG\r\n");
    h.on(2, "CONFIG SET maxmemory 0");
    h.on(2, "CONFIG SET maxmemory-policy allkeys-lru");
    h.on(2, "CONFIG SET notify-keyspace-events Ee");
    h.on(2, "SET foo bar");
    h.on(3, "PSUBSCRIBE *");
    let out = h.send(2, "CONFIG SET maxmemory 1");
    assert!(
        out[3].contains("__keyevent@0__:evicted\r\n$3\r\nfoo\r\n"),
        "{}",
        out[3]
    );
    h.on(2, "CONFIG SET maxmemory 0");
}

/// A replica on a client connection (a real redis-server) is listed as
/// `wait_bgsave` after its full resync until its first REPLCONF ACK says
/// it has loaded the RDB, then `online`; one resyncing partially is online
/// at once.
#[test]
fn a_replica_goes_online_on_its_first_ack() {
    let mut h = Harness::new(5);
    let state = |h: &mut Harness| {
        let info = h.on(1, "INFO replication");
        info.lines()
            .find_map(|l| l.strip_prefix("slave0:"))
            .map(|l| l.split(',').nth(2).unwrap_or("").to_string())
    };
    assert_eq!(state(&mut h), None);
    h.on(2, "REPLCONF listening-port 7000");
    h.on(2, "REPLCONF capa eof capa psync2");
    let sync = h.on(2, "PSYNC ? -1");
    assert!(sync.starts_with("+FULLRESYNC "), "{sync}");
    assert_eq!(state(&mut h).as_deref(), Some("state=wait_bgsave"));
    h.send(2, "REPLCONF ACK 0");
    assert_eq!(state(&mut h).as_deref(), Some("state=online"));
    // A replica asking for what it missed since the start: online at once.
    let replid = sync.split(' ').nth(1).unwrap_or("").to_string();
    h.on(1, "SET k v");
    let cont = h.on(3, &format!("PSYNC {replid} 1"));
    assert!(cont.starts_with("+CONTINUE"), "{cont}");
    let info = h.on(1, "INFO replication");
    assert!(info.contains("state=online"), "{info}");
    assert!(!info.contains("wait_bgsave"), "{info}");
}
