//! MIGRATE on virtual time, with the runtime's part played by the test:
//! the node dials, the test says the link is up and answers for the
//! target. Every other client waits while a MIGRATE runs (Redis's MIGRATE
//! blocks the server); the timeout answers IOERR; a cached link that went
//! stale is retried once on a fresh one; idle links close after 10 s.
//! (Replies against a real redis-server are compared in
//! tests/tests/migrate.rs.)

mod common;

use cachelab_engine::commands::migrate::LinkId;
use cachelab_engine::{Input, Output};
use common::Harness;

/// The links the node asked for since the last call: (dials, sends, closes).
fn links(h: &mut Harness) -> (Vec<LinkId>, Vec<(LinkId, String)>, Vec<LinkId>) {
    let (mut d, mut s, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for o in std::mem::take(&mut h.other) {
        match o {
            Output::Dial { link, host, port } => {
                assert_eq!((host.as_str(), port), ("10.0.0.9", 6380));
                d.push(link)
            }
            Output::LinkSend { link, bytes } => {
                s.push((link, String::from_utf8_lossy(&bytes).into_owned()))
            }
            Output::LinkClose { link } => c.push(link),
            _ => {}
        }
    }
    (d, s, c)
}

#[test]
fn migrate_holds_other_clients_and_moves_the_keys() {
    let mut h = Harness::new(3);
    h.on(1, "SET a 1");
    h.on(1, "SET b 2 PX 60000");
    assert_eq!(
        h.on(1, "MIGRATE 10.0.0.9 6380 \"\" 2 5000 KEYS a b nope"),
        ""
    );
    let (dials, sends, _) = links(&mut h);
    assert_eq!(dials.len(), 1);
    assert!(sends.is_empty(), "nothing is written before the link is up");
    // Another client waits, even for a read.
    assert_eq!(h.on(2, "GET a"), "");
    assert_eq!(h.on(3, "PING"), "");
    h.input(Input::LinkUp { link: dials[0] });
    let (_, sends, _) = links(&mut h);
    let sent = &sends[0].1;
    assert!(sent.starts_with(
        "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*4\r\n$7\r\nRESTORE\r\n$1\r\na\r\n$1\r\n0\r\n"
    ));
    assert!(
        sent.contains("$1\r\nb\r\n$5\r\n60000\r\n"),
        "b's TTL travels: {sent:?}"
    );
    // The replies arrive in two pieces; then the caller and the held
    // clients are answered, and the moved keys are gone.
    let out = h.input(Input::LinkBytes {
        link: dials[0],
        bytes: b"+OK\r\n+O",
    });
    assert_eq!(out[1], "");
    let out = h.input(Input::LinkBytes {
        link: dials[0],
        bytes: b"K\r\n+OK\r\n",
    });
    assert_eq!(out[1], "+OK\r\n");
    assert_eq!(out[2], "$-1\r\n");
    assert_eq!(out[3], "+PONG\r\n");
    assert_eq!(h.on(1, "EXISTS a b"), ":0\r\n");
    // The link is cached: the next MIGRATE to db 2 needs no dial, no SELECT.
    h.on(1, "SET c 3");
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 c 2 5000 COPY"), "");
    let (dials2, sends, _) = links(&mut h);
    assert!(dials2.is_empty());
    assert!(sends[0].1.starts_with("*4\r\n$7\r\nRESTORE\r\n$1\r\nc\r\n"));
    let out = h.input(Input::LinkBytes {
        link: dials[0],
        bytes: b"-BUSYKEY Target key name already exists.\r\n",
    });
    assert_eq!(
        out[1],
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    assert_eq!(h.on(1, "EXISTS c"), ":1\r\n");
    // After 10 idle seconds the cached link is closed.
    h.advance(10_500);
    let (_, _, closes) = links(&mut h);
    assert_eq!(closes, vec![dials[0]]);
}

#[test]
fn timeouts_failures_and_the_stale_link_retry() {
    let mut h = Harness::new(4);
    h.on(1, "SET a 1");
    // The target never answers the dial: IOERR at the timeout, and the
    // held client runs.
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300"), "");
    assert_eq!(h.on(2, "INCR n"), "");
    let out = h.advance(299);
    assert_eq!(out[1], "");
    let out = h.advance(1);
    assert_eq!(
        out[1],
        "-IOERR error or timeout connecting to the client\r\n"
    );
    assert_eq!(out[2], ":1\r\n");
    // A refused connection answers the same at once.
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300"), "");
    let (dials, _, _) = links(&mut h);
    let out = h.input(Input::LinkClosed {
        link: *dials.last().unwrap(),
    });
    assert_eq!(
        out[1],
        "-IOERR error or timeout connecting to the client\r\n"
    );
    // Connected, then the target goes silent: IOERR reading.
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300"), "");
    let (dials, _, _) = links(&mut h);
    h.input(Input::LinkUp { link: dials[0] });
    let out = h.advance(300);
    assert_eq!(
        out[1],
        "-IOERR error or timeout reading to target instance\r\n"
    );
    assert_eq!(h.on(1, "EXISTS a"), ":1\r\n");
    // A good migration caches a link; it dies before the next MIGRATE
    // reads anything: one retry on a fresh link, which succeeds.
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300 COPY"), "");
    let (dials, _, _) = links(&mut h);
    let first = dials[0];
    h.input(Input::LinkUp { link: first });
    links(&mut h);
    let out = h.input(Input::LinkBytes {
        link: first,
        bytes: b"+OK\r\n+OK\r\n",
    });
    assert_eq!(out[1], "+OK\r\n");
    assert_eq!(h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300 REPLACE"), "");
    let (dials, sends, _) = links(&mut h);
    assert!(dials.is_empty() && sends.len() == 1, "{dials:?} {sends:?}");
    h.input(Input::LinkClosed { link: first });
    let (dials, _, _) = links(&mut h);
    assert_eq!(dials.len(), 1, "a fresh link for the retry");
    h.input(Input::LinkUp { link: dials[0] });
    let (_, sends, _) = links(&mut h);
    assert!(
        sends[0].1.starts_with("*2\r\n$6\r\nSELECT"),
        "a fresh link selects again"
    );
    let out = h.input(Input::LinkBytes {
        link: dials[0],
        bytes: b"+OK\r\n+OK\r\n",
    });
    assert_eq!(out[1], "+OK\r\n");
    assert_eq!(h.on(1, "EXISTS a"), ":0\r\n");
    // Inside MULTI it cannot wait for its link.
    h.on(1, "SET a 1");
    h.on(1, "MULTI");
    h.on(1, "MIGRATE 10.0.0.9 6380 a 0 300");
    assert_eq!(
        h.on(1, "EXEC"),
        "*1\r\n-ERR MIGRATE inside MULTI/EXEC or a script is not supported by cachelab\r\n"
    );
}
