//! Lua 5.1 tables, ported from ltable.c: an array part plus a node hash part with
//! main positions, `lastfree` collision handling and the rehash that computes the
//! optimal array size, so that `next` order and `#t` match real Lua 5.1.

use crate::value::{TableRef, Value};

const NONE: u32 = u32::MAX;
const MAXBITS: usize = 26;
const MAXASIZE: usize = 1 << MAXBITS;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) key: Value,
    pub(crate) val: Value,
    next: u32,
}

const EMPTY_NODE: Node = Node {
    key: Value::Nil,
    val: Value::Nil,
    next: NONE,
};

/// A Lua table.
#[derive(Debug, Default)]
pub struct Table {
    pub(crate) array: Vec<Value>,
    /// Hash part; empty means Lua's shared `dummynode`.
    pub(crate) node: Vec<Node>,
    lastfree: usize,
    pub(crate) meta: Option<TableRef>,
    pub(crate) readonly: bool,
}

#[derive(Clone, Copy)]
enum Slot {
    Arr(usize),
    Node(usize),
}

/// `arrayindex`: the integer value of a number key, if it has one.
#[inline]
fn num_to_int(n: f64) -> Option<i32> {
    let k = n as i32;
    if k as f64 == n {
        Some(k)
    } else {
        None
    }
}

fn ceil_log2(x: usize) -> usize {
    // ceil(log2(x)) for x >= 1
    let mut l = 0;
    let mut v = x - 1;
    while v > 0 {
        l += 1;
        v >>= 1;
    }
    l
}

impl Table {
    pub(crate) fn new(narray: usize, nhash: usize) -> Table {
        let mut t = Table {
            array: vec![Value::Nil; narray],
            ..Default::default()
        };
        t.set_node_vector(nhash);
        t
    }

    #[inline]
    fn sizenode(&self) -> usize {
        if self.node.is_empty() {
            1
        } else {
            self.node.len()
        }
    }

    /// Approximate bytes used, for memory accounting.
    pub(crate) fn bytes(&self) -> usize {
        64 + self.array.capacity() * 16 + self.node.capacity() * 40
    }

    #[inline]
    fn hashmod(&self, n: u32) -> usize {
        (n % (((self.sizenode() - 1) as u32) | 1)) as usize
    }

    fn mainposition(&self, key: &Value) -> usize {
        let size = self.sizenode();
        match *key {
            Value::Number(n) => {
                if n == 0.0 {
                    return 0;
                }
                let bits = n.to_bits();
                let a = (bits as u32).wrapping_add((bits >> 32) as u32);
                self.hashmod(a)
            }
            Value::String(s) => (s.1 as usize) & (size - 1),
            Value::Boolean(b) => (b as usize) & (size - 1),
            Value::Table(t) => self.hashmod(t.0.wrapping_mul(2654435761)),
            Value::Function(f) => self.hashmod(f.0.wrapping_mul(2246822519) ^ 0x5bd1e995),
            Value::LightUserData(p) => self.hashmod(p as u32),
            Value::Thread(t) => self.hashmod(t.0.wrapping_mul(3266489917) ^ 0x27d4eb2f),
            Value::Nil => 0,
        }
    }

    fn find_node(&self, key: &Value) -> Option<usize> {
        if self.node.is_empty() {
            return None;
        }
        let mut n = self.mainposition(key);
        loop {
            let node = &self.node[n];
            if node.key == *key {
                return Some(n);
            }
            if node.next == NONE {
                return None;
            }
            n = node.next as usize;
        }
    }

    fn find_num_node(&self, nk: f64) -> Option<usize> {
        if self.node.is_empty() {
            return None;
        }
        let mut n = self.mainposition(&Value::Number(nk));
        loop {
            let node = &self.node[n];
            if let Value::Number(x) = node.key {
                if x == nk {
                    return Some(n);
                }
            }
            if node.next == NONE {
                return None;
            }
            n = node.next as usize;
        }
    }

    /// `luaH_getnum`.
    #[inline]
    pub fn get_int(&self, key: i64) -> Value {
        if key >= 1 && (key as u64) <= self.array.len() as u64 {
            return self.array[(key - 1) as usize];
        }
        match self.find_num_node(key as f64) {
            Some(n) => self.node[n].val,
            None => Value::Nil,
        }
    }

    /// `luaH_get`: raw get.
    #[inline]
    pub fn get(&self, key: Value) -> Value {
        match key {
            Value::Nil => Value::Nil,
            Value::Number(n) => {
                if let Some(k) = num_to_int(n) {
                    return self.get_int(k as i64);
                }
                match self.find_node(&key) {
                    Some(i) => self.node[i].val,
                    None => Value::Nil,
                }
            }
            _ => match self.find_node(&key) {
                Some(i) => self.node[i].val,
                None => Value::Nil,
            },
        }
    }

    fn find_slot(&self, key: &Value) -> Option<Slot> {
        if let Value::Number(n) = *key {
            if let Some(k) = num_to_int(n) {
                if k >= 1 && (k as usize) <= self.array.len() {
                    return Some(Slot::Arr(k as usize - 1));
                }
                return self.find_num_node(k as f64).map(Slot::Node);
            }
        }
        if key.is_nil() {
            return None;
        }
        self.find_node(key).map(Slot::Node)
    }

    #[inline]
    fn write(&mut self, s: Slot, v: Value) {
        match s {
            Slot::Arr(i) => self.array[i] = v,
            Slot::Node(i) => self.node[i].val = v,
        }
    }

    /// `luaH_set` followed by the assignment. Errors with Lua's message for nil/NaN keys.
    pub fn set(&mut self, key: Value, val: Value) -> Result<(), &'static str> {
        if let Some(s) = self.find_slot(&key) {
            self.write(s, val);
            return Ok(());
        }
        match key {
            Value::Nil => return Err("table index is nil"),
            Value::Number(n) if n.is_nan() => return Err("table index is NaN"),
            _ => {}
        }
        let s = self.newkey(key);
        self.write(s, val);
        Ok(())
    }

    /// `luaH_setnum` followed by the assignment.
    pub fn set_int(&mut self, key: i64, val: Value) {
        if key >= 1 && (key as u64) <= self.array.len() as u64 {
            self.array[(key - 1) as usize] = val;
            return;
        }
        let _ = self.set(Value::Number(key as f64), val);
    }

    fn getfreepos(&mut self) -> Option<usize> {
        while self.lastfree > 0 {
            self.lastfree -= 1;
            if self.node[self.lastfree].key.is_nil() {
                return Some(self.lastfree);
            }
        }
        None
    }

    fn newkey(&mut self, key: Value) -> Slot {
        let mut mp = self.mainposition(&key);
        if self.node.is_empty() || !self.node[mp].val.is_nil() {
            let n = match self.getfreepos() {
                Some(n) => n,
                None => {
                    self.rehash(&key);
                    return match self.find_slot(&key) {
                        Some(s) => s,
                        None => self.newkey(key),
                    };
                }
            };
            let mpkey = self.node[mp].key;
            let mut othern = self.mainposition(&mpkey);
            if othern != mp {
                while self.node[othern].next as usize != mp {
                    othern = self.node[othern].next as usize;
                }
                self.node[othern].next = n as u32;
                self.node[n] = self.node[mp];
                self.node[mp].next = NONE;
                self.node[mp].val = Value::Nil;
            } else {
                self.node[n].next = self.node[mp].next;
                self.node[mp].next = n as u32;
                mp = n;
            }
        }
        self.node[mp].key = key;
        Slot::Node(mp)
    }

    fn set_node_vector(&mut self, size: usize) {
        if size == 0 {
            self.node = Vec::new();
            self.lastfree = 0;
        } else {
            let lsize = ceil_log2(size);
            let size = 1usize << lsize;
            self.node = vec![EMPTY_NODE; size];
            self.lastfree = size;
        }
    }

    fn numusearray(&self, nums: &mut [usize]) -> usize {
        let mut ause = 0;
        let mut i = 1;
        let mut ttlg = 1usize;
        for lg in 0..=MAXBITS {
            let mut lc = 0;
            let mut lim = ttlg;
            if lim > self.array.len() {
                lim = self.array.len();
                if i > lim {
                    break;
                }
            }
            while i <= lim {
                if !self.array[i - 1].is_nil() {
                    lc += 1;
                }
                i += 1;
            }
            nums[lg] += lc;
            ause += lc;
            ttlg *= 2;
        }
        ause
    }

    fn countint(key: &Value, nums: &mut [usize]) -> usize {
        if let Value::Number(n) = *key {
            if let Some(k) = num_to_int(n) {
                if k > 0 && (k as usize) <= MAXASIZE {
                    nums[ceil_log2(k as usize)] += 1;
                    return 1;
                }
            }
        }
        0
    }

    fn rehash(&mut self, ek: &Value) {
        let mut nums = [0usize; MAXBITS + 1];
        let mut nasize = self.numusearray(&mut nums);
        let mut totaluse = nasize;
        // numusehash
        let mut ause = 0;
        for n in self.node.iter().rev() {
            if !n.val.is_nil() {
                ause += Self::countint(&n.key, &mut nums);
                totaluse += 1;
            }
        }
        nasize += ause;
        nasize += Self::countint(ek, &mut nums);
        totaluse += 1;
        // computesizes
        let mut a = 0;
        let mut na = 0;
        let mut n = 0;
        let mut twotoi = 1usize;
        let mut i = 0;
        while twotoi / 2 < nasize {
            if nums[i] > 0 {
                a += nums[i];
                if a > twotoi / 2 {
                    n = twotoi;
                    na = a;
                }
            }
            if a == nasize {
                break;
            }
            i += 1;
            twotoi *= 2;
        }
        self.resize(n, totaluse - na);
    }

    pub(crate) fn resize(&mut self, nasize: usize, nhsize: usize) {
        let oldasize = self.array.len();
        if nasize > oldasize {
            self.array.resize(nasize, Value::Nil);
        }
        let old_nodes = std::mem::take(&mut self.node);
        self.set_node_vector(nhsize);
        if nasize < oldasize {
            let vanishing: Vec<Value> = self.array.drain(nasize..).collect();
            for (j, v) in vanishing.into_iter().enumerate() {
                if !v.is_nil() {
                    self.set_int((nasize + j + 1) as i64, v);
                }
            }
            self.array.shrink_to_fit();
        }
        for old in old_nodes.iter().rev() {
            if !old.val.is_nil() {
                let _ = self.set(old.key, old.val);
            }
        }
    }

    /// `luaH_next`: the entry after `key` (nil starts). Err on an invalid key.
    pub fn next(&self, key: Value) -> Result<Option<(Value, Value)>, ()> {
        let mut i = self.findindex(&key)?;
        i = i.wrapping_add(1);
        while i < self.array.len() {
            if !self.array[i].is_nil() {
                return Ok(Some((Value::Number((i + 1) as f64), self.array[i])));
            }
            i += 1;
        }
        let mut j = i - self.array.len();
        while j < self.node.len() {
            let n = &self.node[j];
            if !n.val.is_nil() {
                return Ok(Some((n.key, n.val)));
            }
            j += 1;
        }
        Ok(None)
    }

    fn findindex(&self, key: &Value) -> Result<usize, ()> {
        if key.is_nil() {
            return Ok(usize::MAX);
        }
        if let Value::Number(n) = *key {
            if let Some(k) = num_to_int(n) {
                if k > 0 && (k as usize) <= self.array.len() {
                    return Ok(k as usize - 1);
                }
            }
        }
        match self.find_node(key) {
            Some(i) => Ok(i + self.array.len()),
            None => Err(()),
        }
    }

    /// `luaH_getn`: the border used by the `#` operator.
    pub fn len(&self) -> usize {
        let mut j = self.array.len();
        if j > 0 && self.array[j - 1].is_nil() {
            let mut i = 0;
            while j - i > 1 {
                let m = (i + j) / 2;
                if self.array[m - 1].is_nil() {
                    j = m;
                } else {
                    i = m;
                }
            }
            return i;
        }
        if self.node.is_empty() {
            return j;
        }
        // unbound_search
        let mut i = j as u64;
        let mut j = i + 1;
        while !self.get_int(j as i64).is_nil() {
            i = j;
            j *= 2;
            if j > i32::MAX as u64 {
                let mut i = 1;
                while !self.get_int(i).is_nil() {
                    i += 1;
                }
                return (i - 1) as usize;
            }
        }
        while j - i > 1 {
            let m = (i + j) / 2;
            if self.get_int(m as i64).is_nil() {
                j = m;
            } else {
                i = m;
            }
        }
        i as usize
    }

    /// Visit every key and value that must be kept alive (for the collector).
    pub(crate) fn for_each_ref(&self, mut f: impl FnMut(Value)) {
        for v in &self.array {
            f(*v);
        }
        for n in &self.node {
            f(n.key);
            f(n.val);
        }
        if let Some(m) = self.meta {
            f(Value::Table(m));
        }
    }
}
