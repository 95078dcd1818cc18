//! The checker's cluster as a real server over RESP (`cargo xtask
//! exercises --target redis://HOST:PORT`): a learner's own Redis, Valkey
//! or ElastiCache endpoint. It answers commands; it has no control plane,
//! so only the labs that need none run against it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cachelab_engine::protocol::{encode_request, parse_reply};

use crate::cluster::{reply_text, Cluster, ClusterView, Query, Ticket};
use crate::steps::Action;

pub struct RespCluster {
    addr: String,
    sock: TcpStream,
    answers: Vec<Option<Result<String, String>>>,
}

/// `redis://HOST:PORT` (or `HOST:PORT`) → `HOST:PORT`.
pub fn parse_target(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("redis://").unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    if rest
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        Ok(rest.to_string())
    } else {
        Err(format!("{url:?}: expected redis://HOST:PORT"))
    }
}

impl RespCluster {
    pub fn connect(url: &str) -> Result<RespCluster, String> {
        let addr = parse_target(url)?;
        let sock = TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(RespCluster {
            addr,
            sock,
            answers: Vec::new(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn call(&mut self, argv: &[Vec<u8>]) -> Result<String, String> {
        self.sock
            .write_all(&encode_request(argv))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((r, _)) = parse_reply(&buf).map_err(|e| format!("{e:?}"))? {
                return Ok(reply_text(&r));
            }
            let n = self.sock.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Cluster for RespCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let a = match q {
            // One endpoint: every `via` reaches it.
            Query::Redis { argv, .. } => self.call(argv),
            Query::Memcached { .. } => Err("a Redis endpoint does not speak memcached".into()),
        };
        self.answers.push(Some(a));
        self.answers.len() - 1
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        self.answers.get_mut(t).and_then(Option::take)
    }

    fn view(&mut self) -> ClusterView {
        ClusterView {
            kind: "replication".into(),
            ..Default::default()
        }
    }

    fn act(&mut self, a: &Action) -> Result<(), String> {
        match a {
            // Virtual time cannot pass on a real server; real time does.
            Action::Wait(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }
            _ => Err(format!("{a:?} needs the control plane (not a real server)")),
        }
    }

    fn has_control(&self) -> bool {
        false
    }
}
