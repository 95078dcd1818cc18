//! The replica's side of Redis's own replication protocol, over an
//! outbound byte link (`Output::Dial`), as `syncWithMaster` speaks it: so a
//! real redis-server can be this node's primary (REPLICAOF a redis-server:
//! the way data migrates in). The handshake — PING, AUTH with
//! `masteruser`/`masterauth`, `REPLCONF listening-port`, `REPLCONF capa eof
//! capa psync2`, `PSYNC replid offset` — then `+FULLRESYNC` and the RDB
//! payload (`$<len>` or diskless `$EOF:<mark>`, keep-alive newlines
//! skipped) or `+CONTINUE`, then the command stream, acknowledged with
//! `REPLCONF ACK <offset>` every second and on `REPLCONF GETACK`.
//!
//! Used when [`super::Repl::wire_mode`] is on: every runtime's nodes (the
//! native server's sockets, the simulator's and the page's `net::Tcps`).

use crate::commands::migrate::{LinkId, LinkOut};
use crate::node::Server;
use crate::protocol::encode_request;
use crate::time::Millis;
use crate::NodeEvent;

use super::LinkState;

/// Where the handshake is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Dialling,
    Ping,
    Auth,
    Port,
    Capa,
    Psync,
    /// +FULLRESYNC read: the payload's header, then its bytes.
    Payload {
        replid: String,
        offset: u64,
        body: Body,
    },
    Streaming,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    Header,
    Len(usize),
    /// Diskless: the payload ends with this 40-byte mark; `scanned` bytes
    /// were searched already.
    Eof {
        mark: Vec<u8>,
        scanned: usize,
    },
}

/// The link to a primary speaking Redis's protocol.
#[derive(Clone, Debug)]
pub struct WireLink {
    pub link: LinkId,
    step: Step,
    rx: Vec<u8>,
}

/// readSyncBulkPayload's words for a payload header it cannot read.
fn bad_protocol(line: &str) -> String {
    format!("Bad protocol from MASTER, the first byte is not '$' (we received '{line}'), are you sure the host and port are right?")
}

/// One `\r\n`-terminated line from the front of `rx`.
fn take_line(rx: &mut Vec<u8>) -> Option<String> {
    let end = rx.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&rx[..end]).into_owned();
    rx.drain(..end + 2);
    Some(line)
}

impl Server {
    fn wire_send(&mut self, link: LinkId, argv: &[&[u8]]) {
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        self.migrate.out.push(LinkOut::Send {
            link,
            bytes: encode_request(&argv),
        });
    }

    /// Connects to the primary (a new link; an old one is closed).
    pub(super) fn wire_dial(&mut self, now: Millis) {
        let link = self.migrate.new_link();
        let Some(m) = self.repl.master.as_mut() else {
            return;
        };
        if let Some(old) = m.wire.take() {
            self.migrate.out.push(LinkOut::Close { link: old.link });
        }
        m.link = link.0;
        m.state = LinkState::Syncing { since: now };
        m.wire = Some(WireLink {
            link,
            step: Step::Dialling,
            rx: Vec::new(),
        });
        let (host, port) = (m.host.clone(), m.port);
        self.migrate.out.push(LinkOut::Dial { link, host, port });
    }

    fn wire_of(&mut self, link: LinkId) -> Option<&mut WireLink> {
        self.repl
            .master
            .as_mut()
            .and_then(|m| m.wire.as_mut())
            .filter(|w| w.link == link)
    }

    /// `REPLCONF ACK <offset>` to the primary.
    pub(super) fn wire_ack(&mut self) {
        let Some(link) = self
            .repl
            .master
            .as_ref()
            .and_then(|m| m.wire.as_ref())
            .filter(|w| w.step == Step::Streaming)
            .map(|w| w.link)
        else {
            return;
        };
        let offset = self.repl.offset.to_string();
        self.wire_send(link, &[b"REPLCONF", b"ACK", offset.as_bytes()]);
    }

    /// The link connected: the handshake starts with PING. False if the
    /// link is not replication's.
    pub fn wire_up(&mut self, link: LinkId, events: &mut Vec<NodeEvent>) -> bool {
        let Some(w) = self.wire_of(link) else {
            return false;
        };
        w.step = Step::Ping;
        self.log(events, "MASTER <-> REPLICA sync started".into());
        self.wire_send(link, &[b"PING"]);
        true
    }

    /// The link closed (or never connected): the cron dials again.
    pub fn wire_closed(&mut self, now: Millis, link: LinkId, events: &mut Vec<NodeEvent>) -> bool {
        if self.wire_of(link).is_none() {
            return false;
        }
        if let Some(m) = self.repl.master.as_mut() {
            m.wire = None;
        }
        self.link_down(now, events, "Connection with master lost.");
        true
    }

    /// Gives up on this link (Redis's `error:` path): closed, retried by
    /// the cron.
    fn wire_fail(&mut self, now: Millis, events: &mut Vec<NodeEvent>, why: String) {
        self.log(events, why);
        self.link_down(now, events, "handshake failed");
    }

    /// Bytes from the primary.
    pub fn wire_bytes(
        &mut self,
        now: Millis,
        link: LinkId,
        bytes: &[u8],
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        let Some(w) = self.wire_of(link) else {
            return false;
        };
        w.rx.extend_from_slice(bytes);
        if let Some(m) = self.repl.master.as_mut() {
            m.last_io = Some(now);
        }
        self.stats.net_repl_input_bytes += bytes.len() as u64;
        self.wire_progress(now, link, events);
        true
    }

    fn wire_progress(&mut self, now: Millis, link: LinkId, events: &mut Vec<NodeEvent>) {
        loop {
            let Some(w) = self.wire_of(link) else {
                return;
            };
            let step = w.step.clone();
            match step {
                Step::Dialling => return,
                Step::Streaming => {
                    let bytes = std::mem::take(&mut w.rx);
                    if !bytes.is_empty() {
                        self.apply_stream(now, &bytes);
                    }
                    return;
                }
                Step::Payload {
                    replid,
                    offset,
                    body,
                } => {
                    if !self.wire_payload(now, link, replid, offset, body, events) {
                        return;
                    }
                }
                _ => {
                    // The primary keeps the link alive with newlines while
                    // it prepares its answer (a diskless sync's delay).
                    let skip = w.rx.iter().take_while(|&&b| b == b'\n').count();
                    w.rx.drain(..skip);
                    let Some(line) = take_line(&mut w.rx) else {
                        return;
                    };
                    if !self.wire_reply(now, link, step, line, events) {
                        return;
                    }
                }
            }
        }
    }

    /// One handshake reply; false when the link ended.
    fn wire_reply(
        &mut self,
        now: Millis,
        link: LinkId,
        step: Step,
        line: String,
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        let next = |s: &mut Server, step: Step| {
            if let Some(w) = s.wire_of(link) {
                w.step = step;
            }
        };
        match step {
            Step::Ping => {
                // NOAUTH / NOPERM are fine here: AUTH comes next.
                if line.starts_with('-')
                    && !line.starts_with("-NOAUTH")
                    && !line.starts_with("-NOPERM")
                    && !line.starts_with("-ERR operation not permitted")
                {
                    self.wire_fail(
                        now,
                        events,
                        format!("Error reply to PING from master: '{line}'"),
                    );
                    return false;
                }
                self.log(
                    events,
                    "Master replied to PING, replication can continue...".into(),
                );
                let auth = self
                    .config
                    .get("masterauth")
                    .filter(|p| !p.is_empty())
                    .map(str::to_string);
                match auth {
                    Some(pass) => {
                        let user = self
                            .config
                            .get("masteruser")
                            .filter(|u| !u.is_empty())
                            .map(str::to_string);
                        match user {
                            Some(u) => {
                                self.wire_send(link, &[b"AUTH", u.as_bytes(), pass.as_bytes()])
                            }
                            None => self.wire_send(link, &[b"AUTH", pass.as_bytes()]),
                        }
                        next(self, Step::Auth);
                    }
                    None => {
                        self.wire_send_port(link);
                        next(self, Step::Port);
                    }
                }
            }
            Step::Auth => {
                if line.starts_with('-') {
                    self.wire_fail(now, events, format!("Unable to AUTH to MASTER: {line}"));
                    return false;
                }
                self.wire_send_port(link);
                next(self, Step::Port);
            }
            Step::Port => {
                if line.starts_with('-') {
                    self.log(events, format!("(Non critical) Master does not understand REPLCONF listening-port: {line}"));
                }
                self.wire_send(link, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]);
                next(self, Step::Capa);
            }
            Step::Capa => {
                if line.starts_with('-') {
                    self.log(
                        events,
                        format!("(Non critical) Master does not understand REPLCONF capa: {line}"),
                    );
                }
                // A partial resync continues this node's own history.
                let (replid, offset) = if self.repl.backlog.is_some() || self.repl.offset > 0 {
                    (self.repl.replid.clone(), (self.repl.offset + 1).to_string())
                } else {
                    ("?".to_string(), "-1".to_string())
                };
                if replid == "?" {
                    self.log(
                        events,
                        "Partial resynchronization not possible (no cached master)".into(),
                    );
                } else {
                    self.log(
                        events,
                        format!("Trying a partial resynchronization (request {replid}:{offset})."),
                    );
                }
                self.wire_send(link, &[b"PSYNC", replid.as_bytes(), offset.as_bytes()]);
                next(self, Step::Psync);
            }
            Step::Psync => {
                if let Some(rest) = line.strip_prefix("+FULLRESYNC ") {
                    let mut parts = rest.split(' ');
                    let replid = parts.next().unwrap_or("").to_string();
                    let offset = parts.next().and_then(|o| o.parse::<u64>().ok());
                    let Some(offset) = offset.filter(|_| replid.len() == 40) else {
                        self.wire_fail(
                            now,
                            events,
                            format!("Master replied with wrong +FULLRESYNC syntax: {line}"),
                        );
                        return false;
                    };
                    self.log(
                        events,
                        format!("Full resync from master: {replid}:{offset}"),
                    );
                    next(
                        self,
                        Step::Payload {
                            replid,
                            offset,
                            body: Body::Header,
                        },
                    );
                } else if let Some(rest) = line.strip_prefix("+CONTINUE") {
                    let replid = rest.trim();
                    let replid = if replid.len() == 40 {
                        replid.to_string()
                    } else {
                        self.repl.replid.clone()
                    };
                    self.log(
                        events,
                        "Successful partial resynchronization with master.".into(),
                    );
                    let from = self
                        .repl
                        .master
                        .as_ref()
                        .map(|m| m.addr())
                        .unwrap_or_default();
                    self.partial_accepted(now, &from, replid, events);
                    self.log(
                        events,
                        "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."
                            .into(),
                    );
                    next(self, Step::Streaming);
                } else {
                    // NOMASTERLINK, LOADING, an error: try again later.
                    self.wire_fail(
                        now,
                        events,
                        format!("Unexpected reply to PSYNC from master: {line}"),
                    );
                    return false;
                }
            }
            Step::Dialling | Step::Payload { .. } | Step::Streaming => {}
        }
        true
    }

    fn wire_send_port(&mut self, link: LinkId) {
        let port = self.config.get("port").unwrap_or("6379").to_string();
        self.wire_send(link, &[b"REPLCONF", b"listening-port", port.as_bytes()]);
    }

    /// The full resync's payload; true once it is loaded (the stream
    /// follows in the same bytes), false while more is needed or the link
    /// ended.
    fn wire_payload(
        &mut self,
        now: Millis,
        link: LinkId,
        replid: String,
        offset: u64,
        body: Body,
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        let Some(w) = self.wire_of(link) else {
            return false;
        };
        let set = |w: &mut WireLink, body: Body| {
            w.step = Step::Payload {
                replid: replid.clone(),
                offset,
                body,
            };
        };
        match body {
            Body::Header => {
                // The primary sends newlines while it prepares the RDB.
                let skip = w.rx.iter().take_while(|&&b| b == b'\n').count();
                w.rx.drain(..skip);
                let Some(line) = take_line(&mut w.rx) else {
                    return false;
                };
                if let Some(mark) = line.strip_prefix("$EOF:") {
                    if mark.len() != 40 {
                        self.wire_fail(now, events, bad_protocol(&line));
                        return false;
                    }
                    set(
                        w,
                        Body::Eof {
                            mark: mark.as_bytes().to_vec(),
                            scanned: 0,
                        },
                    );
                    self.log(events, "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk".into());
                    true
                } else if let Some(len) =
                    line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                {
                    set(w, Body::Len(len));
                    self.log(
                        events,
                        format!(
                            "MASTER <-> REPLICA sync: receiving {len} bytes from master to disk"
                        ),
                    );
                    true
                } else if line.starts_with('-') {
                    self.wire_fail(
                        now,
                        events,
                        format!("MASTER aborted replication with an error: {line}"),
                    );
                    false
                } else {
                    self.wire_fail(now, events, bad_protocol(&line));
                    false
                }
            }
            Body::Len(len) => {
                if w.rx.len() < len {
                    return false;
                }
                let payload: Vec<u8> = w.rx.drain(..len).collect();
                self.wire_load(now, link, replid, offset, &payload, events)
            }
            Body::Eof { mark, scanned } => {
                let from = scanned.saturating_sub(mark.len());
                let found = w.rx[from..]
                    .windows(mark.len())
                    .position(|win| win == mark.as_slice())
                    .map(|p| p + from);
                let Some(end) = found else {
                    let scanned = w.rx.len();
                    set(w, Body::Eof { mark, scanned });
                    return false;
                };
                let payload: Vec<u8> = w.rx.drain(..end).collect();
                w.rx.drain(..mark.len());
                let loaded = self.wire_load(now, link, replid, offset, &payload, events);
                if loaded {
                    // As Redis's replica after a diskless transfer: the first
                    // ACK at once, which puts it online and starts its stream.
                    self.wire_ack();
                }
                loaded
            }
        }
    }

    fn wire_load(
        &mut self,
        now: Millis,
        link: LinkId,
        replid: String,
        offset: u64,
        payload: &[u8],
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        self.log(
            events,
            "MASTER <-> REPLICA sync: Loading DB in memory".into(),
        );
        let from = self
            .repl
            .master
            .as_ref()
            .map(|m| m.addr())
            .unwrap_or_default();
        if !self.load_full_sync(now, &from, replid, offset, payload, events) {
            return false;
        }
        // load_full_sync kept the link (a peer's); this one streams on.
        if let Some(w) = self.wire_of(link) {
            w.step = Step::Streaming;
        }
        self.log(
            events,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        );
        true
    }
}
