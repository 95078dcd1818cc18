//! Scripts on virtual time: a long script holds other clients' commands,
//! answers them BUSY after `busy-reply-threshold`, and ends with SCRIPT KILL
//! (or FUNCTION KILL for a function) unless it has written; scripts inside
//! MULTI/EXEC run to completion. Texts as redis-server 7.0 writes them.

mod common;

use common::Harness;

const LOOP: &str = "EVAL \"local i = 0 while true do i = i + 1 end\" 0";
const BUSY: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

#[test]
fn a_long_script_is_busy_then_killed() {
    let mut h = Harness::new(11);
    assert_eq!(h.on(1, "SET k 1"), "+OK\r\n");
    assert_eq!(h.on(1, LOOP), "");
    // Before the threshold other clients wait; the node asks to be ticked now.
    assert_eq!(h.on(2, "GET k"), "");
    assert_eq!(h.node.poll_timeout(), Some(h.now));
    let out = h.advance(1000);
    assert_eq!(out[2], "");
    // Past busy-reply-threshold (5 s): BUSY, but SCRIPT KILL runs.
    let out = h.advance(4500);
    assert_eq!(out[2], BUSY);
    assert_eq!(h.on(2, "PING"), BUSY);
    assert_eq!(h.on(3, "FUNCTION KILL"), BUSY);
    assert_eq!(h.on(3, "SCRIPT KILL"), "+OK\r\n");
    let out = h.advance(1);
    assert!(
        out[1].starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{}",
        out[1]
    );
    assert!(out[1].ends_with(", on @user_script:1.\r\n"), "{}", out[1]);
    // Everyone runs again.
    assert_eq!(h.on(2, "GET k"), "$1\r\n1\r\n");
    assert_eq!(
        h.on(3, "SCRIPT KILL"),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
}

#[test]
fn a_script_that_wrote_cannot_be_killed() {
    let mut h = Harness::new(11);
    assert_eq!(
        h.on(1, "EVAL \"redis.call('set','w','1') while true do end\" 0"),
        ""
    );
    h.advance(6000);
    assert_eq!(
        h.on(2, "SCRIPT KILL"),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
    );
}

#[test]
fn a_function_is_killed_by_function_kill() {
    let mut h = Harness::new(11);
    let load = "FUNCTION LOAD \"#!lua name=spin\nredis.register_function('spin', function() while true do end end)\"";
    assert_eq!(h.on(1, load), "$4\r\nspin\r\n");
    assert_eq!(h.on(1, "FCALL spin 0"), "");
    h.advance(6000);
    assert_eq!(
        h.on(2, "SCRIPT KILL"),
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(h.on(2, "FUNCTION KILL"), "+OK\r\n");
    let out = h.advance(1);
    assert!(
        out[1].starts_with(
            "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
        ),
        "{}",
        out[1]
    );
}

#[test]
fn scripts_in_a_transaction_run_to_completion() {
    let mut h = Harness::new(11);
    h.on(1, "MULTI");
    h.on(
        1,
        "EVAL \"local n = 0 for i = 1, 300000 do n = n + 1 end return n\" 0",
    );
    assert_eq!(h.on(1, "EXEC"), "*1\r\n:300000\r\n");
}

#[test]
fn a_transaction_meeting_a_busy_script_is_discarded() {
    let mut h = Harness::new(12);
    h.on(2, "SET xx 1");
    assert_eq!(h.on(2, "MULTI"), "+OK\r\n");
    assert_eq!(h.on(2, "INCR xx"), "+QUEUED\r\n");
    assert_eq!(h.on(1, LOOP), "");
    h.advance(6000);
    // MULTI may run while busy; a queued command refused BUSY dooms it;
    // EXEC itself refused ends the transaction with the reason.
    assert_eq!(h.on(2, "INCR xx"), BUSY);
    assert_eq!(
        h.on(2, "EXEC"),
        format!(
            "-EXECABORT Transaction discarded because of: {}",
            &BUSY[1..]
        )
    );
    assert_eq!(h.on(3, "SCRIPT KILL"), "+OK\r\n");
    h.advance(1);
    assert_eq!(h.on(2, "GET xx"), "$1\r\n1\r\n");
    assert_eq!(h.on(2, "PING asdf"), "$4\r\nasdf\r\n");
}

#[test]
fn a_reading_script_tracks_its_declared_keys() {
    let mut h = Harness::new(13);
    h.on(1, "HELLO 3");
    assert_eq!(h.on(1, "CLIENT TRACKING on"), "+OK\r\n");
    // A script that only writes tracks nothing.
    h.on(1, "EVAL \"redis.call('set', 'key3', 'bar')\" 2 key1 key2");
    let out = h.send(2, "MSET key2 2 key1 2");
    assert_eq!(out[1], "");
    // A script that reads tracks every key it declared (not what it read).
    h.on(1, "EVAL \"redis.call('get', 'key3')\" 2 key1 key2");
    let out = h.send(2, "MSET key2 3 key1 3 key3 3");
    assert_eq!(
        out[1],
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey2\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey1\r\n"
    );
    // The read-only variants alike: EVAL_RO itself tracks nothing, the
    // read it runs tracks the declared keys.
    h.on(1, "EVAL_RO \"redis.call('ping')\" 2 key1 key2");
    let out = h.send(2, "MSET key2 4 key1 4");
    assert_eq!(out[1], "");
    h.on(1, "EVAL_RO \"redis.call('get', 'key1')\" 2 key1 key2");
    let out = h.send(2, "MSET key2 5 key1 5");
    assert_eq!(
        out[1],
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey2\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey1\r\n"
    );
}

#[test]
fn a_script_iterates_a_coroutine_generator() {
    let mut h = Harness::new(14);
    assert_eq!(h.on(1, "RPUSH l a b c"), ":3\r\n");
    // The generator calls Redis from inside the coroutine; values go both
    // ways through resume/yield.
    let script = "EVAL \"local gen = coroutine.wrap(function(key) for _, v in ipairs(redis.call('lrange', key, 0, -1)) do local n = coroutine.yield(v) redis.call('rpush', 'out', v .. n) end end) local out, v = {}, gen(KEYS[1]) while v do out[#out + 1] = v v = gen(#out) end return {out, redis.call('lrange', 'out', 0, -1), type(coroutine.running()), coroutine.status(coroutine.create(function() end))}\" 1 l";
    assert_eq!(
        h.on(1, script),
        "*4\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n*3\r\n$2\r\na1\r\n$2\r\nb2\r\n$2\r\nc3\r\n$3\r\nnil\r\n$9\r\nsuspended\r\n"
    );
    // A coroutine's error comes back from resume (a redis.call error is its
    // {err=…} table); wrap raises it again.
    let r = h.on(1, "EVAL \"return {coroutine.resume(coroutine.create(function() redis.call('nosuchcmd') end))}\" 0");
    assert!(
        r.starts_with("*2\r\n$-1\r\n-ERR Unknown Redis command called from script"),
        "{}",
        r
    );
    assert_eq!(
        h.on(1, "EVAL \"return select(2, coroutine.resume(coroutine.create(function() error('boom') end)))\" 0"),
        "$19\r\nuser_script:1: boom\r\n"
    );
    let e = h.on(
        1,
        "EVAL \"coroutine.wrap(function() error('boom') end)()\" 0",
    );
    assert!(
        e.starts_with("-ERR user_script:1: user_script:1: boom script: "),
        "{}",
        e
    );
    // Yielding outside a coroutine, or across pcall, is refused as in Lua 5.1.
    let e = h.on(1, "EVAL \"coroutine.yield(1)\" 0");
    assert!(
        e.starts_with("-ERR attempt to yield across metamethod/C-call boundary"),
        "{}",
        e
    );
    // (true, false, message: the array stops at nothing, false is a nil)
    assert_eq!(
        h.on(1, "EVAL \"return {coroutine.resume(coroutine.create(function() return pcall(coroutine.yield) end))}\" 0"),
        "*3\r\n:1\r\n$-1\r\n$50\r\nattempt to yield across metamethod/C-call boundary\r\n"
    );
    // The library is read-only, like every table the globals reach.
    let e = h.on(1, "EVAL \"coroutine.create = nil\" 0");
    assert!(
        e.starts_with("-ERR user_script:1: Attempt to modify a readonly table script: "),
        "{}",
        e
    );
    // Functions have it too.
    let load = "FUNCTION LOAD \"#!lua name=gen\nredis.register_function('twice', function(keys, args) local w = coroutine.wrap(function(x) local y = coroutine.yield(x .. x) return y .. '!' end) return {w(args[1]), w('b')} end)\"";
    assert_eq!(h.on(1, load), "$3\r\ngen\r\n");
    assert_eq!(h.on(1, "FCALL twice 0 a"), "*2\r\n$2\r\naa\r\n$2\r\nb!\r\n");
}

#[test]
fn a_loop_inside_a_coroutine_is_busy_then_killed() {
    let mut h = Harness::new(15);
    assert_eq!(h.on(1, "SET k 1"), "+OK\r\n");
    // The coroutine yields once, then spins: the script is suspended between
    // slices while inside the coroutine, and SCRIPT KILL reaches it there.
    let spin = "EVAL \"local w = coroutine.wrap(function() coroutine.yield(1) local i = 0 while true do i = i + 1 end end) w() return w()\" 0";
    assert_eq!(h.on(1, spin), "");
    assert_eq!(h.on(2, "GET k"), "");
    let out = h.advance(1000);
    assert_eq!(out[2], "");
    let out = h.advance(4500);
    assert_eq!(out[2], BUSY);
    assert_eq!(h.on(2, "PING"), BUSY);
    assert_eq!(h.on(3, "SCRIPT KILL"), "+OK\r\n");
    let out = h.advance(1);
    assert!(
        out[1].starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{}",
        out[1]
    );
    assert!(out[1].ends_with(", on @user_script:1.\r\n"), "{}", out[1]);
    assert_eq!(h.on(2, "GET k"), "$1\r\n1\r\n");
    // The interpreter is whole again: coroutines still run in it.
    assert_eq!(
        h.on(1, "EVAL \"local w = coroutine.wrap(function(a) return coroutine.yield(a) + 1 end) return w(1) + w(40)\" 0"),
        ":42\r\n"
    );
}
