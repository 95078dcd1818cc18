//! Redis's `zskiplist`: a skip list ordered by (score, member) whose links
//! carry spans, so rank lookups and "element at rank" are O(log n). Nodes
//! live in an arena (`u32` indices, `NIL` for none); freed slots are reused.
//! A node holds its first link inline and only the higher levels (a
//! quarter of the nodes) in a separate allocation; the member is stored
//! here once (the sorted set's dict refers to nodes by index).

pub const NIL: u32 = u32::MAX;
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Link {
    forward: u32,
    span: u32,
}

const NO_LINK: Link = Link {
    forward: NIL,
    span: 0,
};

#[derive(Clone, Debug, PartialEq)]
struct Node {
    ele: Box<[u8]>,
    score: f64,
    backward: u32,
    l0: Link,
    /// Levels 2 and up, if any.
    up: Option<Box<[Link]>>,
}

impl Node {
    fn new(ele: Box<[u8]>, score: f64, levels: usize) -> Node {
        Node {
            ele,
            score,
            backward: NIL,
            l0: NO_LINK,
            up: (levels > 1).then(|| vec![NO_LINK; levels - 1].into_boxed_slice()),
        }
    }
    fn levels(&self) -> usize {
        1 + self.up.as_ref().map_or(0, |u| u.len())
    }
    fn link(&self, i: usize) -> Link {
        if i == 0 {
            self.l0
        } else {
            self.up.as_ref().expect("level exists")[i - 1]
        }
    }
    fn link_mut(&mut self, i: usize) -> &mut Link {
        if i == 0 {
            &mut self.l0
        } else {
            &mut self.up.as_mut().expect("level exists")[i - 1]
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    seed: u64,
}

const HEAD: u32 = 0;

/// True if (s1, e1) sorts before (s2, e2).
fn before(s1: f64, e1: &[u8], s2: f64, e2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && e1 < e2)
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let head = Node::new(Box::default(), 0.0, MAX_LEVEL);
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
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
        self.nodes[n as usize].levels()
    }

    fn span(&self, n: u32, i: usize) -> usize {
        self.nodes[n as usize].link(i).span as usize
    }

    fn lk(&mut self, n: u32, i: usize) -> &mut Link {
        self.nodes[n as usize].link_mut(i)
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

    fn fwd(&self, n: u32, i: usize) -> u32 {
        self.nodes[n as usize].link(i).forward
    }

    pub fn score(&self, n: u32) -> f64 {
        self.nodes[n as usize].score
    }

    pub fn ele(&self, n: u32) -> &[u8] {
        &self.nodes[n as usize].ele
    }

    /// The next node in order, or NIL.
    pub fn next(&self, n: u32) -> u32 {
        self.fwd(n, 0)
    }

    /// The previous node in order, or NIL.
    pub fn prev(&self, n: u32) -> u32 {
        self.nodes[n as usize].backward
    }

    pub fn first(&self) -> u32 {
        self.fwd(HEAD, 0)
    }

    pub fn last(&self) -> u32 {
        self.tail
    }

    /// `zslInsert`: the member must not already be present. Returns its node.
    pub fn insert(&mut self, score: f64, ele: Box<[u8]>) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f != NIL && before(self.score(f), self.ele(f), score, &ele) {
                    rank[i] += self.span(x, i);
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.lk(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node::new(ele, score, level);
        let x = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let u = update[i];
            let ul = self.nodes[u as usize].link(i);
            *self.lk(x, i) = Link {
                forward: ul.forward,
                span: ul.span - (rank[0] - rank[i]) as u32,
            };
            *self.lk(u, i) = Link {
                forward: x,
                span: (rank[0] - rank[i]) as u32 + 1,
            };
        }
        for (i, u) in update.iter().enumerate().take(self.level).skip(level) {
            self.lk(*u, i).span += 1;
        }
        let back = if update[0] == HEAD { NIL } else { update[0] };
        self.nodes[x as usize].backward = back;
        let f0 = self.fwd(x, 0);
        if f0 != NIL {
            self.nodes[f0 as usize].backward = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
        x
    }

    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.fwd(u, i) == x {
                let xl = self.nodes[x as usize].link(i);
                let ul = self.lk(u, i);
                ul.span = ul.span + xl.span - 1;
                ul.forward = xl.forward;
            } else {
                self.lk(u, i).span -= 1;
            }
        }
        let f0 = self.fwd(x, 0);
        let back = self.nodes[x as usize].backward;
        if f0 != NIL {
            self.nodes[f0 as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.fwd(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        self.nodes[x as usize] = Node::new(Box::default(), 0.0, 1);
        self.free.push(x);
    }

    /// `zslDelete`: the removed node's height if (score, ele) was there.
    pub fn delete(&mut self, score: f64, ele: &[u8]) -> Option<usize> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && before(self.score(f), self.ele(f), score, ele) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let x = self.fwd(x, 0);
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
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL
                    && (self.score(f) < score || (self.score(f) == score && self.ele(f) <= ele))
                {
                    rank += self.span(x, i);
                    x = f;
                } else {
                    break;
                }
            }
            if x != HEAD && self.ele(x) == ele {
                return rank;
            }
        }
        0
    }

    /// `zslGetElementByRank` (1-based), NIL when out of range.
    pub fn by_rank(&self, rank: usize) -> u32 {
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + self.span(x, i) <= rank {
                    traversed += self.span(x, i);
                    x = f;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return if x == HEAD { NIL } else { x };
            }
        }
        NIL
    }

    /// The first node for which `gte(score, ele)` holds, where `gte` is
    /// monotone over the order (false … false true … true); NIL if none.
    pub fn first_where(&self, gte: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && !gte(self.score(f), self.ele(f)) {
                    x = f;
                } else {
                    break;
                }
            }
        }
        self.fwd(x, 0)
    }

    /// The last node for which `lte(score, ele)` holds, where `lte` is
    /// monotone (true … true false … false); NIL if none.
    pub fn last_where(&self, lte: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && lte(self.score(f), self.ele(f)) {
                    x = f;
                } else {
                    break;
                }
            }
        }
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
                sl.insert(score, k.clone().into_boxed_slice());
                model.push((score, k));
            }
            if step % 97 == 0 {
                model.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
                let got: Vec<(f64, Vec<u8>)> = sl.iter().map(|(e, s)| (s, e.to_vec())).collect();
                assert_eq!(got, model);
                for (i, (s, e)) in model.iter().enumerate() {
                    assert_eq!(sl.rank(*s, e), i + 1);
                    let n = sl.by_rank(i + 1);
                    assert_eq!(sl.ele(n), e.as_slice());
                }
                assert_eq!(sl.by_rank(model.len() + 1), NIL);
                if let Some((s, e)) = model.last() {
                    assert_eq!(sl.ele(sl.last()), e.as_slice());
                    assert_eq!(sl.score(sl.last()), *s);
                }
            }
        }
    }
}
