//! `nodes.conf` (`cluster-config-file`): the cluster as this node last
//! knew it, written whenever it changes and read back at start, so a
//! restarted node keeps its id, epochs, slots and role and rejoins — as
//! `clusterSaveConfig` / `clusterLoadConfig`. The text is Redis's: one
//! CLUSTER NODES line per node (open slots as `[slot->-id]` /
//! `[slot-<-id]` on our own line), then `vars currentEpoch N
//! lastVoteEpoch M`; a file Redis wrote loads here, and the reverse.
//!
//! The node writes nothing itself: when the text would change it asks
//! the runtime to write it (`Output::SaveClusterConfig`). What counts as
//! a change is cheap to see (`fingerprint`), so the check runs every cron.

use super::bus::node_flag;
use super::{Cluster, ClusterNode, MYSELF};
use crate::store::slots::SLOTS;

impl Cluster {
    /// The file's text (`clusterGenNodesDescription` without nodes in
    /// handshake, then the vars line).
    pub fn config_text(&self) -> String {
        let mut out = String::new();
        for i in 0..self.nodes.len() {
            if self.nodes[i].flags & node_flag::HANDSHAKE != 0 {
                continue;
            }
            out.push_str(&self.node_line(i));
            out.push('\n');
        }
        out.push_str(&format!(
            "vars currentEpoch {} lastVoteEpoch {}\n",
            self.current_epoch, self.last_vote_epoch
        ));
        out
    }

    /// Changes when anything the file says changes (but not the PING and
    /// PONG times, which Redis does not save for alone either): O(nodes).
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            h ^= x;
            h = h.wrapping_mul(0x100_0000_01b3);
        };
        eat(self.current_epoch);
        eat(self.last_vote_epoch);
        eat(self.slots_gen);
        for (s, n) in self.migrating.iter().chain(self.importing.iter()) {
            eat(*s as u64);
            eat(*n as u64);
        }
        eat(self.migrating.len() as u64);
        let persistent = node_flag::PFAIL
            | node_flag::FAIL
            | node_flag::NOADDR
            | node_flag::NOFAILOVER
            | node_flag::HANDSHAKE;
        for n in &self.nodes {
            // Eight bytes at a time, then the lengths.
            for text in [n.id.as_bytes(), n.ip.as_bytes()] {
                let mut words = text.chunks_exact(8);
                for w in &mut words {
                    eat(u64::from_le_bytes(w.try_into().expect("8 bytes")));
                }
                let mut last = [0u8; 8];
                last[..words.remainder().len()].copy_from_slice(words.remainder());
                eat(u64::from_le_bytes(last));
                eat(text.len() as u64);
            }
            eat(n.port as u64);
            eat(n.cport as u64);
            eat(n.config_epoch);
            eat(n.replica_of.map_or(u64::MAX, |p| p as u64));
            eat((n.flags & persistent) as u64);
        }
        h
    }

    /// `clusterLoadConfig`: the cluster a file describes, this node being
    /// the line flagged `myself`; its port and bus port are the ones it
    /// starts with. Errors name the line, as Redis's "Unrecoverable error:
    /// corrupted cluster config file" does.
    pub fn from_config(text: &str, port: u16, cport: u16) -> Result<Cluster, String> {
        let corrupt =
            |line: &str| format!("Unrecoverable error: corrupted cluster config file \"{line}\".");
        let mut nodes: Vec<(ClusterNode, Option<String>, Vec<&str>)> = Vec::new();
        let mut found_myself = false;
        let (mut current_epoch, mut last_vote_epoch) = (0, 0);
        for line in text.lines() {
            let argv: Vec<&str> = line.split(' ').filter(|a| !a.is_empty()).collect();
            if argv.is_empty() {
                continue;
            }
            if argv[0] == "vars" {
                if argv.len().is_multiple_of(2) {
                    return Err(corrupt(line));
                }
                for pair in argv[1..].chunks(2) {
                    let v: u64 = pair[1].parse().map_err(|_| corrupt(line))?;
                    match pair[0] {
                        "currentEpoch" => current_epoch = v,
                        "lastVoteEpoch" => last_vote_epoch = v,
                        _ => {}
                    }
                }
                continue;
            }
            if argv.len() < 8 || argv[0].len() != 40 {
                return Err(corrupt(line));
            }
            // ip:port@cport[,hostname]
            let addr = argv[1].split(',').next().unwrap_or("");
            let (hostport, bus) = addr.split_once('@').ok_or_else(|| corrupt(line))?;
            let (ip, p) = hostport.rsplit_once(':').ok_or_else(|| corrupt(line))?;
            let mut n = ClusterNode {
                id: argv[0].to_string(),
                ip: ip.to_string(),
                port: p.parse().map_err(|_| corrupt(line))?,
                cport: bus.parse().map_err(|_| corrupt(line))?,
                config_epoch: argv[6].parse().map_err(|_| corrupt(line))?,
                ..ClusterNode::default()
            };
            let mut myself = false;
            let mut replica = false;
            for f in argv[2].split(',') {
                match f {
                    "myself" => myself = true,
                    "master" => {}
                    "slave" => replica = true,
                    "fail?" => n.flags |= node_flag::PFAIL,
                    "fail" => n.flags |= node_flag::FAIL,
                    "handshake" => n.flags |= node_flag::HANDSHAKE,
                    "noaddr" => n.flags |= node_flag::NOADDR,
                    "nofailover" => n.flags |= node_flag::NOFAILOVER,
                    "noflags" => {}
                    _ => return Err(corrupt(line)),
                }
            }
            // A replica names its primary ("-" while it does not know it).
            let primary = (replica && argv[3] != "-").then(|| argv[3].to_string());
            if myself {
                if found_myself {
                    return Err(corrupt(line));
                }
                found_myself = true;
                n.port = port;
                n.cport = cport;
                nodes.insert(0, (n, primary, argv[8..].to_vec()));
            } else {
                nodes.push((n, primary, argv[8..].to_vec()));
            }
        }
        if !found_myself {
            return Err(
                "Unrecoverable error: the cluster config file has no line flagged myself.".into(),
            );
        }
        let mut c = Cluster::new(nodes[0].0.id.clone(), port, cport);
        c.nodes = nodes.iter().map(|(n, ..)| n.clone()).collect();
        c.by_id.get_mut().len = usize::MAX;
        let index = |c: &Cluster, id: &str| c.lookup(id.as_bytes());
        for (i, (_, primary, slots)) in nodes.iter().enumerate() {
            if let Some(p) = primary.as_deref().and_then(|p| index(&c, p)) {
                c.set_replica_of(i, Some(p));
            }
            for s in slots {
                if let Some(open) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    let (slot, dir, other) = if let Some((a, b)) = open.split_once("->-") {
                        (a, true, b)
                    } else if let Some((a, b)) = open.split_once("-<-") {
                        (a, false, b)
                    } else {
                        return Err(format!("Unrecoverable error: bad slot entry \"{s}\"."));
                    };
                    let slot: u16 = slot
                        .parse()
                        .ok()
                        .filter(|&x: &u16| (x as usize) < SLOTS)
                        .ok_or_else(|| format!("Unrecoverable error: bad slot entry \"{s}\"."))?;
                    if let Some(o) = index(&c, other) {
                        if dir {
                            c.migrating.insert(slot, o);
                        } else {
                            c.importing.insert(slot, o);
                        }
                    }
                    continue;
                }
                let (a, b) = s.split_once('-').unwrap_or((s, s));
                let range = a.parse::<u16>().ok().zip(b.parse::<u16>().ok());
                let Some((a, b)) = range.filter(|&(a, b)| a <= b && (b as usize) < SLOTS) else {
                    return Err(format!("Unrecoverable error: bad slot entry \"{s}\"."));
                };
                for slot in a..=b {
                    c.set_owner(slot, Some(i));
                }
            }
        }
        // `currentEpoch` is at least every node's config epoch.
        let max = c.nodes.iter().map(|n| n.config_epoch).max().unwrap_or(0);
        c.current_epoch = current_epoch.max(max);
        c.last_vote_epoch = last_vote_epoch;
        c.nodes[MYSELF].flags &= !(node_flag::PFAIL | node_flag::FAIL);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [100->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [5461-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@40005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 2 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@40006 slave,fail 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 3 disconnected
vars currentEpoch 6 lastVoteEpoch 4
";

    #[test]
    fn a_redis_nodes_conf_loads_and_is_written_back_the_same() {
        let c = Cluster::from_config(FILE, 30001, 40001).expect("loads");
        assert_eq!(c.nodes.len(), 5);
        assert_eq!(
            c.nodes[MYSELF].id,
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"
        );
        assert_eq!((c.current_epoch, c.last_vote_epoch), (6, 4));
        assert_eq!(c.owner(0), Some(MYSELF));
        assert_eq!(c.owner(5461), Some(1));
        assert_eq!(c.importing.get(&5461), Some(&1));
        assert_eq!(c.migrating.get(&100), Some(&2));
        assert_eq!(c.nodes[3].replica_of, Some(1));
        assert_ne!(c.nodes[4].flags & node_flag::FAIL, 0);
        // Written back: the same lines, but for the times and link states
        // (a node just started has pinged nobody and has no links).
        let again = c.config_text();
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    if f[0] == "vars" {
                        return l.to_string();
                    }
                    let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
                    f[4] = "0".into();
                    f[5] = "0".into();
                    f[7] = "-".into();
                    f.join(" ")
                })
                .collect()
        };
        assert_eq!(strip(&again), strip(FILE));
        // Loading what we wrote gives the same file.
        let third = Cluster::from_config(&again, 30001, 40001).expect("reloads");
        assert_eq!(third.config_text(), again);
        assert_eq!(third.fingerprint(), c.fingerprint());
    }

    #[test]
    fn a_damaged_nodes_conf_is_refused_by_line() {
        for bad in [
            "garbage\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001 myself,master - 0 0 1 connected\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-99999\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 master - 0 0 1 connected\n",
            "vars currentEpoch\n",
        ] {
            let e = Cluster::from_config(bad, 30001, 40001).expect_err(bad);
            assert!(e.starts_with("Unrecoverable error"), "{bad}: {e}");
        }
    }
}
