//! A lab's words for a cluster-mode group, shared by every runtime that
//! hosts one (the simulator's `ClusterSim`, the page's router): which node
//! a query starts at (`@cluster`, `@config`, `@NODE`) and what an `!action`
//! asks of the CME control plane. The control plane's part is done here;
//! faults on the network (kill, cut off, heal) and the passing of time are
//! returned for the runtime to carry out.

use cachelab_engine::control::cme::Cme;
use cachelab_engine::control::ApiError;
use cachelab_engine::Millis;

use crate::steps::Action;

/// What the runtime carries out after [`act`].
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Nothing: the control plane took the action.
    None,
    /// The node at this address crashes.
    Kill(String),
    /// The node at this address is cut off from the others.
    Isolate(String),
    Heal,
    /// Virtual time passes (ms).
    Wait(u64),
    /// These nodes die with their Availability Zone (the control plane
    /// already knows the zone is down).
    AzDown(Vec<String>),
}

fn api_err(e: ApiError) -> String {
    format!("{}: {}", e.code, e.message)
}

/// A shard by its id (`0002` → 1).
fn shard(id: &str) -> Result<usize, String> {
    id.parse::<usize>()
        .ok()
        .filter(|&n| n >= 1)
        .map(|n| n - 1)
        .ok_or_else(|| format!("{id:?} is not a shard (0001, 0002, …)"))
}

fn addr_of(cme: &Cme, name: &str) -> Result<String, String> {
    cme.nodes
        .iter()
        .find(|n| n.name == name)
        .map(|n| n.addr.clone())
        .ok_or_else(|| format!("no node {name}"))
}

/// Where a query through `via` starts (`pick` rotates the configuration
/// endpoint's answer, as DNS round-robin would), and whether its client
/// follows MOVED and ASK: `cluster` and `primary` do (a cluster-aware
/// client), `config` and a node's name do not.
pub fn start(cme: &Cme, via: &str, pick: usize) -> Result<(String, bool), String> {
    match via {
        "cluster" | "primary" | "config" => cme
            .resolve(&cme.configuration_endpoint(), pick)
            .map(|a| (a, via != "config"))
            .ok_or_else(|| format!("Could not connect to {via}: no node answers")),
        node => addr_of(cme, node).map(|a| (a, false)),
    }
}

/// A redirect's target: `MOVED 3999 10.0.1.11:6379` → (is ASK, "host:port").
pub fn redirect(error: &str) -> Option<(bool, String)> {
    let mut w = error.split(' ');
    let ask = match w.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    w.next()?.parse::<u16>().ok()?;
    Some((ask, w.next()?.to_string()))
}

/// Carries out a lab's `!action` on the control plane at `now`.
pub fn act(cme: &mut Cme, now: Millis, a: &Action) -> Result<Fault, String> {
    match a {
        Action::Wait(ms) => Ok(Fault::Wait(*ms)),
        Action::ScaleOut(n) => cme.scale_out(now, *n).map(|_| Fault::None).map_err(api_err),
        Action::ScaleIn(s) => cme
            .scale_in(now, &[shard(s)?])
            .map(|_| Fault::None)
            .map_err(api_err),
        Action::Rebalance => cme.rebalance(now).map(|_| Fault::None).map_err(api_err),
        Action::Reshard { from, to, slots } => {
            let (f, t) = (shard(from)?, shard(to)?);
            if !cme.shards().contains(&f) || !cme.shards().contains(&t) || f == t {
                return Err("InvalidParameterValue: name two different shards of the group".into());
            }
            if cme.status != "available" {
                return Err(format!("InvalidReplicationGroupState: Replication group {} is not in available state (it is {}).", cme.group, cme.status));
            }
            let owned = cme.slots_of(f);
            let take: Vec<u16> = owned.iter().rev().take(*slots).rev().copied().collect();
            cme.move_slots(now, f, t, &take);
            Ok(Fault::None)
        }
        Action::FailoverShard(s) => cme.test_failover(now, shard(s)?).map(|_| Fault::None),
        Action::TestFailover => Err("name the shard: !failover 0001".into()),
        Action::AddReplica(s) => {
            let s = s.as_deref().ok_or("name the shard: !add-replica 0001")?;
            cme.add_replica(now, shard(s)?)
                .map(|_| Fault::None)
                .map_err(api_err)
        }
        Action::RemoveReplica(name) => cme
            .remove_replica(now, name)
            .map(|_| Fault::None)
            .map_err(api_err),
        Action::Kill(name) => addr_of(cme, name).map(Fault::Kill),
        Action::Isolate(name) => addr_of(cme, name).map(Fault::Isolate),
        Action::Heal => Ok(Fault::Heal),
        Action::Az { az, up } => {
            if !cme.nodes.iter().any(|n| &n.az == az) {
                return Err(format!("no node of the group is in {az}"));
            }
            let gone = cme
                .nodes
                .iter()
                .filter(|n| &n.az == az && !n.failed)
                .map(|n| n.addr.clone())
                .collect();
            cme.az(now, az, *up);
            Ok(if *up {
                Fault::None
            } else {
                Fault::AzDown(gone)
            })
        }
        other => Err(format!(
            "{other:?} is not something a cluster-mode group does here"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_read_as_redis_words_them() {
        assert_eq!(
            redirect("MOVED 3999 10.0.1.11:6379"),
            Some((false, "10.0.1.11:6379".into()))
        );
        assert_eq!(
            redirect("ASK 7 127.0.0.1:7002"),
            Some((true, "127.0.0.1:7002".into()))
        );
        assert_eq!(redirect("MOVED x 1.2.3.4:6379"), None);
        assert_eq!(redirect("ERR MOVED 1 a:1"), None);
    }
}
