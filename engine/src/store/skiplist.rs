//! Redis's `zskiplist`: a skip list ordered by (score, member) whose links
//! carry spans, so rank lookups and "element at rank" are O(log n). Nodes
//! live in an arena (`u32` indices, `NIL` for none); freed slots are reused.
//! The member is stored here once, inline when short (the sorted set's dict
//! refers to nodes by index).
//!
//! Layout, for one cache miss per search step as Redis's inline level array
//! gives it: a node holds its level-0 link inline; the higher levels of a
//! node (a quarter of the nodes have any) live together in an *up-record*
//! of a second arena, `ups`, and a link at level ≥ 1 points to the next
//! up-record, not to the node. Every link also carries a copy of the score
//! of what it points to, so a search decides whether to step forward from
//! the link it already holds; the node itself (its member) is read only on
//! a score tie. A *position* at level 0 is a node index, at level ≥ 1 an
//! up-record offset; the head is position 0 at every level.

use crate::store::smallbytes::SmallBytes;

pub const NIL: u32 = u32::MAX;
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Link {
    /// The next position at this link's level.
    forward: u32,
    span: u32,
    /// The score of `forward`'s node (meaningless when it is NIL).
    fscore: f64,
}

const NO_LINK: Link = Link {
    forward: NIL,
    span: 0,
    fscore: 0.0,
};

#[derive(Clone, Debug, PartialEq)]
struct Node {
    ele: SmallBytes,
    score: f64,
    backward: u32,
    /// Offset of the up-record in `ups`, NIL for a one-level node.
    up: u32,
    l0: Link,
}

impl Node {
    fn empty() -> Node {
        Node {
            ele: SmallBytes::default(),
            score: 0.0,
            backward: NIL,
            up: NIL,
            l0: NO_LINK,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Up-records: at offset `o`, `ups[o]` is a header (`forward` = the
    /// node, `span` = its number of levels) and `ups[o + i]` the link at
    /// level `i`, for `1 <= i < levels`.
    ups: Vec<Link>,
    /// Freed up-records, by number of levels.
    ups_free: Vec<Vec<u32>>,
    tail: u32,
    len: usize,
    level: usize,
    seed: u64,
}

const HEAD: u32 = 0;

/// What [`SkipList::descend`] asks at each step.
enum Step {
    /// Follow this link of this level?
    Follow(Link, usize),
    /// The walk stopped at this position of this level; go on down?
    Stop(u32, usize),
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let mut head = Node::empty();
        head.up = 0;
        let mut ups = vec![NO_LINK; MAX_LEVEL];
        ups[0] = Link {
            forward: HEAD,
            span: MAX_LEVEL as u32,
            fscore: 0.0,
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            ups,
            ups_free: vec![Vec::new(); MAX_LEVEL + 1],
            tail: NIL,
            len: 0,
            level: 1,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Levels of the node at `n` (for memory accounting).
    pub fn node_levels(&self, n: u32) -> usize {
        match self.nodes[n as usize].up {
            NIL => 1,
            up => self.ups[up as usize].span as usize,
        }
    }

    /// The link at level `i` of position `p`.
    fn link(&self, p: u32, i: usize) -> Link {
        if i == 0 {
            self.nodes[p as usize].l0
        } else {
            self.ups[p as usize + i]
        }
    }

    fn link_mut(&mut self, p: u32, i: usize) -> &mut Link {
        if i == 0 {
            &mut self.nodes[p as usize].l0
        } else {
            &mut self.ups[p as usize + i]
        }
    }

    /// The node at position `p` of level `i`.
    fn node_at(&self, p: u32, i: usize) -> u32 {
        if i == 0 {
            p
        } else {
            self.ups[p as usize].forward
        }
    }

    /// Node `n`'s position at level `i` (which it must have).
    fn pos(&self, n: u32, i: usize) -> u32 {
        if i == 0 {
            n
        } else {
            self.nodes[n as usize].up
        }
    }

    /// True if what link `l` (of level `i`) points to sorts before
    /// (score, ele).
    fn precedes(&self, l: Link, i: usize, score: f64, ele: &[u8]) -> bool {
        l.forward != NIL
            && (l.fscore < score
                || (l.fscore == score && self.ele(self.node_at(l.forward, i)) < ele))
    }

    /// Walks down from the head. At each level the walk asks `step` whether
    /// to follow a link (`Step::Follow`), and tells it where it stopped
    /// (`Step::Stop`, whose answer `false` ends the walk there). Returns the
    /// node where the walk ended.
    fn descend(&self, mut step: impl FnMut(Step) -> bool) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            if i == 0 {
                x = self.node_at(x, 1);
            }
            loop {
                let l = self.link(x, i);
                if l.forward != NIL && step(Step::Follow(l, i)) {
                    x = l.forward;
                } else {
                    break;
                }
            }
            if !step(Step::Stop(x, i)) {
                return self.node_at(x, i);
            }
        }
        x
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            if (self.seed & 0xFFFF) < (0.25 * 65535.0) as u64 && level < MAX_LEVEL {
                level += 1;
            } else {
                return level;
            }
        }
    }

    /// A fresh up-record of `levels` levels for node `n`.
    fn alloc_up(&mut self, levels: usize, n: u32) -> u32 {
        let header = Link {
            forward: n,
            span: levels as u32,
            fscore: 0.0,
        };
        match self.ups_free[levels].pop() {
            Some(o) => {
                let r = &mut self.ups[o as usize..o as usize + levels];
                r.fill(NO_LINK);
                r[0] = header;
                o
            }
            None => {
                let o = self.ups.len();
                self.ups.push(header);
                self.ups.resize(o + levels, NO_LINK);
                o as u32
            }
        }
    }

    pub fn score(&self, n: u32) -> f64 {
        self.nodes[n as usize].score
    }

    pub fn ele(&self, n: u32) -> &[u8] {
        &self.nodes[n as usize].ele
    }

    /// The next node in order, or NIL.
    pub fn next(&self, n: u32) -> u32 {
        self.nodes[n as usize].l0.forward
    }

    /// The previous node in order, or NIL.
    pub fn prev(&self, n: u32) -> u32 {
        self.nodes[n as usize].backward
    }

    pub fn first(&self) -> u32 {
        self.next(HEAD)
    }

    pub fn last(&self) -> u32 {
        self.tail
    }

    /// `zslInsert`: the member must not already be present. Returns its node.
    pub fn insert(&mut self, score: f64, ele: SmallBytes) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        self.descend(|step| match step {
            Step::Follow(l, i) => {
                let go = self.precedes(l, i, score, &ele);
                if go {
                    rank[i] += l.span as usize;
                }
                go
            }
            Step::Stop(x, i) => {
                update[i] = x;
                if i > 0 {
                    rank[i - 1] = rank[i];
                }
                true
            }
        });
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let x = match self.free.pop() {
            Some(i) => i,
            None => {
                self.nodes.push(Node::empty());
                (self.nodes.len() - 1) as u32
            }
        };
        let up = if level > 1 {
            self.alloc_up(level, x)
        } else {
            NIL
        };
        self.nodes[x as usize] = Node {
            ele,
            score,
            backward: NIL,
            up,
            l0: NO_LINK,
        };
        for i in 0..level {
            let (u, p) = (update[i], self.pos(x, i));
            let ul = self.link(u, i);
            *self.link_mut(p, i) = Link {
                forward: ul.forward,
                span: ul.span - (rank[0] - rank[i]) as u32,
                fscore: ul.fscore,
            };
            *self.link_mut(u, i) = Link {
                forward: p,
                span: (rank[0] - rank[i]) as u32 + 1,
                fscore: score,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        let back = if update[0] == HEAD { NIL } else { update[0] };
        self.nodes[x as usize].backward = back;
        let f0 = self.next(x);
        if f0 != NIL {
            self.nodes[f0 as usize].backward = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
        x
    }

    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        let levels = self.node_levels(x);
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if i < levels {
                let xl = self.link(self.pos(x, i), i);
                let ul = self.link_mut(u, i);
                ul.span = ul.span + xl.span - 1;
                ul.forward = xl.forward;
                ul.fscore = xl.fscore;
            } else {
                self.link_mut(u, i).span -= 1;
            }
        }
        let f0 = self.next(x);
        let back = self.nodes[x as usize].backward;
        if f0 != NIL {
            self.nodes[f0 as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let up = self.nodes[x as usize].up;
        if up != NIL {
            self.ups_free[levels].push(up);
        }
        self.nodes[x as usize] = Node::empty();
        self.free.push(x);
    }

    /// `zslDelete`: the removed node's height if (score, ele) was there.
    pub fn delete(&mut self, score: f64, ele: &[u8]) -> Option<usize> {
        let mut update = [HEAD; MAX_LEVEL];
        let x = self.descend(|step| match step {
            Step::Follow(l, i) => self.precedes(l, i, score, ele),
            Step::Stop(x, i) => {
                update[i] = x;
                true
            }
        });
        let x = self.next(x);
        if x != NIL && self.score(x) == score && self.ele(x) == ele {
            let levels = self.node_levels(x);
            self.unlink(x, &update);
            Some(levels)
        } else {
            None
        }
    }

    /// `zslGetRank`: the 1-based rank of (score, ele), 0 if absent.
    pub fn rank(&self, score: f64, ele: &[u8]) -> usize {
        let mut rank = 0;
        let mut found = false;
        self.descend(|step| match step {
            Step::Follow(l, i) => {
                let go = l.fscore < score
                    || (l.fscore == score && self.ele(self.node_at(l.forward, i)) <= ele);
                if go {
                    rank += l.span as usize;
                }
                go
            }
            Step::Stop(x, i) => {
                found = x != HEAD && self.ele(self.node_at(x, i)) == ele;
                !found
            }
        });
        if found {
            rank
        } else {
            0
        }
    }

    /// `zslGetElementByRank` (1-based), NIL when out of range.
    pub fn by_rank(&self, rank: usize) -> u32 {
        let mut traversed = 0;
        let mut found = false;
        let x = self.descend(|step| match step {
            Step::Follow(l, _) => {
                let go = traversed + l.span as usize <= rank;
                if go {
                    traversed += l.span as usize;
                }
                go
            }
            Step::Stop(..) => {
                found = traversed == rank;
                !found
            }
        });
        if found && x != HEAD {
            x
        } else {
            NIL
        }
    }

    /// The first node for which `gte(score, ele)` holds, where `gte` is
    /// monotone over the order (false … false true … true); NIL if none.
    pub fn first_where(&self, gte: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let x = self.descend(|step| match step {
            Step::Follow(l, i) => !gte(l.fscore, self.ele(self.node_at(l.forward, i))),
            Step::Stop(..) => true,
        });
        self.next(x)
    }

    /// The last node for which `lte(score, ele)` holds, where `lte` is
    /// monotone (true … true false … false); NIL if none.
    pub fn last_where(&self, lte: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let x = self.descend(|step| match step {
            Step::Follow(l, i) => lte(l.fscore, self.ele(self.node_at(l.forward, i))),
            Step::Stop(..) => true,
        });
        if x == HEAD {
            NIL
        } else {
            x
        }
    }

    /// Elements in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.first();
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let n = &self.nodes[x as usize];
            x = n.l0.forward;
            Some((&n.ele[..], n.score))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every live link's copy of the score is its target's score.
    fn assert_scores_copied(sl: &SkipList) {
        let mut x = HEAD;
        while x != NIL {
            let levels = if x == HEAD {
                MAX_LEVEL
            } else {
                sl.node_levels(x)
            };
            for i in 0..levels.min(sl.level) {
                let l = sl.link(sl.pos(x, i), i);
                if l.forward != NIL {
                    let f = sl.node_at(l.forward, i);
                    assert_eq!(l.fscore, sl.score(f), "node {x} level {i}");
                }
            }
            x = sl.next(x);
        }
    }

    #[test]
    fn ranks_and_order_hold_through_inserts_and_deletes() {
        let mut sl = SkipList::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut seed = 7u64;
        for step in 0..4000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("m{}", (seed >> 33) % 500).into_bytes();
            let score = ((seed >> 20) % 50) as f64;
            if let Some(i) = model.iter().position(|(_, e)| *e == k) {
                let (s, e) = model.remove(i);
                assert!(sl.delete(s, &e).is_some(), "step {step}");
            } else {
                sl.insert(score, SmallBytes::new(&k));
                model.push((score, k));
            }
            if step % 97 == 0 {
                assert_scores_copied(&sl);
                model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
                let got: Vec<(f64, Vec<u8>)> = sl.iter().map(|(e, s)| (s, e.to_vec())).collect();
                assert_eq!(got, model);
                for (i, (s, e)) in model.iter().enumerate() {
                    assert_eq!(sl.rank(*s, e), i + 1);
                    let n = sl.by_rank(i + 1);
                    assert_eq!(sl.ele(n), e.as_slice());
                }
                assert_eq!(sl.by_rank(model.len() + 1), NIL);
                for t in [-1.0, 0.0, 7.0, 24.5, 49.0, 50.0] {
                    let first = model.iter().find(|(s, _)| *s >= t);
                    let n = sl.first_where(|s, _| s >= t);
                    assert_eq!(
                        first.map(|(_, e)| e.as_slice()),
                        (n != NIL).then(|| sl.ele(n))
                    );
                    let last = model.iter().rev().find(|(s, _)| *s <= t);
                    let n = sl.last_where(|s, _| s <= t);
                    assert_eq!(
                        last.map(|(_, e)| e.as_slice()),
                        (n != NIL).then(|| sl.ele(n))
                    );
                }
                if let Some((s, e)) = model.last() {
                    assert_eq!(sl.ele(sl.last()), e.as_slice());
                    assert_eq!(sl.score(sl.last()), *s);
                }
            }
        }
    }
}
