//! Key extraction: which arguments of a command line are keys, and how the
//! command accesses them — Redis 7.0's key specs and getkeys procs.
//!
//! This module owns the key-spec model (`KeySpec`: a begin-search step —
//! an index or a keyword searched from `startfrom` — and a find-keys step —
//! a range with `lastkey`/`keystep`/`limit` or a `keynum` count), its parser
//! from a command's COMMAND INFO entry (`KeySpecs::parse`, run once when the
//! command table is built), the per-command getkeys procs of commands.c
//! (SORT's STORE, MIGRATE's KEYS, GEORADIUS's STORE, XREAD's STREAMS, the
//! numkeys commands, SET's GET, BITFIELD's read-only form), and the search
//! that combines them exactly as db.c's `getKeysFromCommandWithSpecs` does.
//! `COMMAND GETKEYS` / `COMMAND GETKEYSANDFLAGS` answer from here
//! (`getkeys_command`, server.c's `getKeysSubcommandImpl`).

use super::{Command, CommandTable};
use crate::protocol::request::parse_i64_strict;
use crate::protocol::Reply;

/// Key-spec flags, in the bit order `addReplyFlagsForKeyArgs` prints them.
pub const RO: u32 = 1 << 0;
pub const RW: u32 = 1 << 1;
pub const OW: u32 = 1 << 2;
pub const RM: u32 = 1 << 3;
pub const ACCESS: u32 = 1 << 4;
pub const UPDATE: u32 = 1 << 5;
pub const INSERT: u32 = 1 << 6;
pub const DELETE: u32 = 1 << 7;
pub const NOT_KEY: u32 = 1 << 8;
pub const INCOMPLETE: u32 = 1 << 9;
pub const VARIABLE_FLAGS: u32 = 1 << 10;

const FLAG_NAMES: &[(u32, &str)] = &[
    (RO, "RO"),
    (RW, "RW"),
    (OW, "OW"),
    (RM, "RM"),
    (ACCESS, "access"),
    (UPDATE, "update"),
    (INSERT, "insert"),
    (DELETE, "delete"),
    (NOT_KEY, "not_key"),
    (INCOMPLETE, "incomplete"),
    (VARIABLE_FLAGS, "variable_flags"),
];

/// Search flags of `getKeysUsingKeySpecs`.
/// `GET_KEYSPEC_INCLUDE_NOT_KEYS`: return the 'fake' keys too.
pub const INCLUDE_NOT_KEYS: u32 = 1 << 0;
/// `GET_KEYSPEC_RETURN_PARTIAL`: skip invalid and incomplete specs instead
/// of failing.
pub const RETURN_PARTIAL: u32 = 1 << 1;

/// The flag names of a key, as COMMAND GETKEYSANDFLAGS prints them.
pub fn flag_names(flags: u32) -> Vec<String> {
    FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

fn flag_bit(name: &str) -> u32 {
    FLAG_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(bit, _)| *bit)
        .unwrap_or(0)
}

/// Where the search for a spec's keys begins.
#[derive(Clone, Debug, PartialEq)]
pub enum BeginSearch {
    /// At a fixed argument index.
    Index(i64),
    /// After `keyword`, searched from `startfrom` (negative: from the end,
    /// backwards).
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    /// Not describable (`KSPEC_BS_UNKNOWN`): the getkeys proc decides.
    Unknown,
}

/// How a spec's keys are found from where the search began.
#[derive(Clone, Debug, PartialEq)]
pub enum FindKeys {
    /// `lastkey` relative to the first key (negative: from the end, or with
    /// `limit`, a 1/limit share of the remaining arguments).
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// The key count is the argument at `keynumidx`, the keys start at
    /// `firstkey`, both relative to where the search began.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KeySpec {
    pub flags: u32,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// A getkeys proc of commands.c (`getkeys_proc`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GetKeysProc {
    /// `genericGetKeys(storeKeyOfs, keyCountOfs, firstKeyOfs, keyStep)`:
    /// EVAL, FCALL, ZUNION, ZUNIONSTORE, SINTERCARD, LMPOP, BZMPOP…
    Generic {
        store: usize,
        count: usize,
        first: usize,
        step: usize,
    },
    Sort,
    SortRo,
    Migrate,
    Georadius,
    Xread,
    Set,
    Bitfield,
}

impl GetKeysProc {
    /// The proc commands.c gives a command, by full name.
    pub fn for_command(fullname: &str) -> Option<GetKeysProc> {
        let generic = |store, count, first| GetKeysProc::Generic {
            store,
            count,
            first,
            step: 1,
        };
        Some(match fullname {
            "bitfield" => GetKeysProc::Bitfield,
            "migrate" => GetKeysProc::Migrate,
            "sort" => GetKeysProc::Sort,
            "sort_ro" => GetKeysProc::SortRo,
            "georadius" | "georadiusbymember" => GetKeysProc::Georadius,
            "xread" | "xreadgroup" => GetKeysProc::Xread,
            "set" => GetKeysProc::Set,
            // evalGetKeys, functionGetKeys, blmpopGetKeys, bzmpopGetKeys.
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
            | "bzmpop" => generic(0, 2, 3),
            // sintercardGetKeys, lmpopGetKeys, zmpopGetKeys, zunionInterDiffGetKeys.
            "sintercard" | "lmpop" | "zmpop" | "zdiff" | "zinter" | "zintercard" | "zunion" => {
                generic(0, 1, 2)
            }
            // zunionInterDiffStoreGetKeys.
            "zdiffstore" | "zinterstore" | "zunionstore" => generic(1, 2, 3),
            _ => return None,
        })
    }
}

/// A command's key specs and getkeys proc, parsed once from its COMMAND
/// INFO entry when the table is built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeySpecs {
    pub specs: Vec<KeySpec>,
    pub getkeys: Option<GetKeysProc>,
    /// The command flag `no_mandatory_keys` (EVAL, FCALL…): no keys is an
    /// answer, not an error.
    pub no_mandatory_keys: bool,
}

/// A key found in a command line: its argument index and access flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u32,
}

/// Why `get_keys` found no answer, in `getKeysSubcommandImpl`'s words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetKeysError {
    NoKeyArguments,
    WrongArity,
    InvalidArguments,
}

impl GetKeysError {
    pub fn message(self) -> &'static str {
        match self {
            GetKeysError::NoKeyArguments => "ERR The command has no key arguments",
            GetKeysError::WrongArity => "ERR Invalid number of arguments specified for command",
            GetKeysError::InvalidArguments => "ERR Invalid arguments specified for command",
        }
    }
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        _ => String::new(),
    }
}

/// A RESP3 map, or a RESP2 flat array of key, value, key, value…
fn pairs(r: &Reply) -> Vec<(String, &Reply)> {
    match r {
        Reply::Map(m) => m.iter().map(|(k, v)| (text(k), v)).collect(),
        Reply::Array(v) => v
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (text(&c[0]), &c[1]))
            .collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(r: &'a Reply, name: &str) -> Option<&'a Reply> {
    pairs(r)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn int_field(r: &Reply, name: &str) -> i64 {
    match field(r, name) {
        Some(Reply::Int(n)) => *n,
        _ => 0,
    }
}

fn parse_spec(r: &Reply) -> KeySpec {
    let flags = match field(r, "flags") {
        Some(Reply::Set(v)) | Some(Reply::Array(v)) => {
            v.iter().map(|f| flag_bit(&text(f))).fold(0, |a, b| a | b)
        }
        _ => 0,
    };
    let begin_search = match field(r, "begin_search") {
        Some(bs) => {
            let spec = field(bs, "spec").unwrap_or(&Reply::Nil);
            match field(bs, "type").map(text).as_deref() {
                Some("index") => BeginSearch::Index(int_field(spec, "index")),
                Some("keyword") => BeginSearch::Keyword {
                    keyword: field(spec, "keyword")
                        .map(text)
                        .unwrap_or_default()
                        .into_bytes(),
                    startfrom: int_field(spec, "startfrom"),
                },
                _ => BeginSearch::Unknown,
            }
        }
        None => BeginSearch::Unknown,
    };
    let find_keys = match field(r, "find_keys") {
        Some(fk) => {
            let spec = field(fk, "spec").unwrap_or(&Reply::Nil);
            match field(fk, "type").map(text).as_deref() {
                Some("range") => FindKeys::Range {
                    lastkey: int_field(spec, "lastkey"),
                    keystep: int_field(spec, "keystep"),
                    limit: int_field(spec, "limit"),
                },
                Some("keynum") => FindKeys::Keynum {
                    keynumidx: int_field(spec, "keynumidx"),
                    firstkey: int_field(spec, "firstkey"),
                    keystep: int_field(spec, "keystep"),
                },
                _ => FindKeys::Unknown,
            }
        }
        None => FindKeys::Unknown,
    };
    KeySpec {
        flags,
        begin_search,
        find_keys,
    }
}

impl KeySpecs {
    /// Reads the key specs (field 8) and the `no_mandatory_keys` flag
    /// (field 2) of a COMMAND INFO entry; the proc comes from the name.
    pub fn parse(fullname: &str, info: &Reply) -> KeySpecs {
        let fields = match info {
            Reply::Array(f) => f.as_slice(),
            _ => &[],
        };
        let specs = match fields.get(8) {
            Some(Reply::Set(v)) | Some(Reply::Array(v)) => v.iter().map(parse_spec).collect(),
            _ => Vec::new(),
        };
        let no_mandatory_keys = match fields.get(2) {
            Some(Reply::Set(v)) | Some(Reply::Array(v)) => {
                v.iter().any(|f| text(f) == "no_mandatory_keys")
            }
            _ => false,
        };
        KeySpecs {
            specs,
            getkeys: GetKeysProc::for_command(fullname),
            no_mandatory_keys,
        }
    }

    /// At least one spec is not `not_key` (`getAllKeySpecsFlags(cmd, 1) &
    /// CMD_KEY_NOT_KEY`).
    pub fn has_keyspec(&self) -> bool {
        self.specs.iter().any(|s| s.flags & NOT_KEY == 0)
    }

    /// At least one spec has `variable_flags`.
    pub fn has_variable_flags(&self) -> bool {
        self.specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0)
    }

    /// `doesCommandHaveKeys`.
    pub fn has_keys(&self) -> bool {
        self.getkeys.is_some() || self.has_keyspec()
    }

    /// `getKeysUsingKeySpecs`: `None` where Redis returns -1 (an invalid or
    /// incomplete spec, without `RETURN_PARTIAL`).
    pub fn keys_using_specs(&self, argv: &[Vec<u8>], search_flags: u32) -> Option<Vec<KeyRef>> {
        let argc = argv.len() as i64;
        let mut keys = Vec::new();
        for spec in &self.specs {
            if spec.flags & NOT_KEY != 0 && search_flags & INCLUDE_NOT_KEYS == 0 {
                continue;
            }
            match spec_keys(spec, argv, argc, &mut keys) {
                SpecResult::Done => {}
                SpecResult::Skip => continue,
                SpecResult::Invalid => {
                    if search_flags & RETURN_PARTIAL != 0 {
                        continue;
                    }
                    return None;
                }
            }
        }
        Some(keys)
    }

    /// `getKeysFromCommandWithSpecs`: the specs when they are complete and
    /// their flags reliable, else the getkeys proc.
    pub fn keys(&self, argv: &[Vec<u8>], search_flags: u32) -> Vec<KeyRef> {
        if self.has_keyspec() && !self.has_variable_flags() {
            if let Some(keys) = self.keys_using_specs(argv, search_flags) {
                return keys;
            }
        }
        match self.getkeys {
            Some(proc_) => run_proc(proc_, argv),
            None => Vec::new(),
        }
    }
}

enum SpecResult {
    Done,
    /// The keyword was not found: the spec has no keys here.
    Skip,
    Invalid,
}

/// C's view of an argument: a string ends at its first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// `!strcasecmp(arg, word)`.
fn is(arg: &[u8], word: &[u8]) -> bool {
    cstr(arg).eq_ignore_ascii_case(word)
}

/// One spec of `getKeysUsingKeySpecs`, its keys appended to `keys`.
fn spec_keys(spec: &KeySpec, argv: &[Vec<u8>], argc: i64, keys: &mut Vec<KeyRef>) -> SpecResult {
    let mut first: i64 = match &spec.begin_search {
        BeginSearch::Index(pos) => *pos,
        BeginSearch::Keyword { keyword, startfrom } => {
            let startfrom = *startfrom;
            let start = if startfrom > 0 {
                startfrom
            } else {
                argc + startfrom
            };
            let end = if startfrom > 0 { argc - 1 } else { 1 };
            let mut found = 0;
            let mut i = start;
            // The end index itself is never examined, as in Redis.
            while i != end {
                if i >= argc || i < 1 {
                    break;
                }
                if is(&argv[i as usize], keyword) {
                    found = i + 1;
                    break;
                }
                i = if start <= end { i + 1 } else { i - 1 };
            }
            if found == 0 {
                return SpecResult::Skip;
            }
            found
        }
        BeginSearch::Unknown => return SpecResult::Invalid,
    };
    let (last, step): (i64, i64) = match spec.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                // C's int division truncates toward zero, as Rust's does.
                first + ((argc - first) / limit + lastkey)
            };
            (last, keystep)
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            if keynumidx >= argc {
                return SpecResult::Invalid;
            }
            // Redis reads argv[first + keynumidx] unchecked; with 7.0's
            // specs and the arity check it is always in range.
            let Some(arg) = usize::try_from(first + keynumidx)
                .ok()
                .and_then(|i| argv.get(i))
            else {
                return SpecResult::Invalid;
            };
            let numkeys = match parse_i64_strict(arg) {
                Some(n) if n >= 0 => n,
                _ => return SpecResult::Invalid,
            };
            // `first` and `last` are C ints; `(int)numkeys` truncates.
            let f = (first as i32).wrapping_add(firstkey as i32);
            let last = f.wrapping_add(numkeys as i32).wrapping_sub(1);
            first = f as i64;
            (last as i64, keystep)
        }
        FindKeys::Unknown => return SpecResult::Invalid,
    };
    // First or last out of bounds: a syntax error.
    if last >= argc || last < first || first >= argc {
        return SpecResult::Invalid;
    }
    // With first..=last inside argv, Redis's per-key bounds check (skip for
    // variadic commands, panic for others) never fires. A zero step (never
    // in Redis's table) is taken as 1 rather than looping forever.
    let step = step.max(1);
    let mut i = first;
    while i <= last {
        keys.push(KeyRef {
            pos: i as usize,
            flags: spec.flags,
        });
        i += step;
    }
    // An incomplete spec fails only after its keys were added (for
    // RETURN_PARTIAL).
    if spec.flags & INCOMPLETE != 0 {
        return SpecResult::Invalid;
    }
    SpecResult::Done
}

/// glibc's `atoi`: `(int)strtol(s, NULL, 10)` — leading white space, a sign,
/// digits up to the first other byte, clamped to `long`, truncated to `int`.
fn atoi(b: &[u8]) -> i32 {
    let b = cstr(b);
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut v: i128 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = (v * 10 + (b[i] - b'0') as i128).min(i64::MAX as i128 + 1);
        i += 1;
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    v as i32
}

/// The getkeys procs of db.c.
fn run_proc(proc_: GetKeysProc, argv: &[Vec<u8>]) -> Vec<KeyRef> {
    let argc = argv.len();
    match proc_ {
        GetKeysProc::Generic {
            store,
            count,
            first,
            step,
        } => {
            // genericGetKeys.
            let num = atoi(&argv[count]) as i64;
            if num < 1 || num > (argc as i64 - first as i64) / step as i64 {
                return Vec::new();
            }
            let mut keys: Vec<KeyRef> = (0..num as usize)
                .map(|i| KeyRef {
                    pos: first + i * step,
                    flags: 0,
                })
                .collect();
            if store != 0 {
                keys.push(KeyRef {
                    pos: store,
                    flags: 0,
                });
            }
            keys
        }
        GetKeysProc::SortRo => vec![KeyRef {
            pos: 1,
            flags: RO | ACCESS,
        }],
        GetKeysProc::Sort => {
            let mut keys = vec![KeyRef {
                pos: 1,
                flags: RO | ACCESS,
            }];
            let mut store = None;
            let mut i = 2;
            while i < argc {
                let a = &argv[i];
                if is(a, b"limit") {
                    i += 2;
                } else if is(a, b"store") && i + 1 < argc {
                    // The last STORE wins; its key is scanned as an option
                    // next, as in Redis.
                    store = Some(i + 1);
                } else if is(a, b"get") || is(a, b"by") {
                    i += 1;
                }
                i += 1;
            }
            if let Some(pos) = store {
                keys.push(KeyRef {
                    pos,
                    flags: OW | UPDATE,
                });
            }
            keys
        }
        GetKeysProc::Migrate => {
            let (mut first, mut num) = (3, 1);
            if argc > 6 {
                let mut i = 6;
                while i < argc {
                    let a = &argv[i];
                    if is(a, b"keys") {
                        if !argv[3].is_empty() {
                            num = 0;
                        } else {
                            first = i + 1;
                            num = argc - first;
                        }
                        break;
                    }
                    if is(a, b"auth") {
                        i += 1;
                    } else if is(a, b"auth2") {
                        i += 2;
                    }
                    i += 1;
                }
            }
            (first..first + num)
                .map(|pos| KeyRef {
                    pos,
                    flags: RW | ACCESS | DELETE,
                })
                .collect()
        }
        GetKeysProc::Georadius => {
            let mut stored = None;
            let mut i = 5;
            while i < argc {
                let a = &argv[i];
                if (is(a, b"store") || is(a, b"storedist")) && i + 1 < argc {
                    stored = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            let mut keys = vec![KeyRef { pos: 1, flags: 0 }];
            if let Some(pos) = stored {
                keys.push(KeyRef { pos, flags: 0 });
            }
            keys
        }
        GetKeysProc::Xread => {
            let mut streams = None;
            let mut i = 1;
            while i < argc {
                let a = &argv[i];
                if is(a, b"block") || is(a, b"count") {
                    i += 1;
                } else if is(a, b"group") {
                    i += 2;
                } else if is(a, b"noack") {
                } else if is(a, b"streams") {
                    streams = Some(i);
                    break;
                } else {
                    break;
                }
                i += 1;
            }
            let Some(sp) = streams else {
                return Vec::new();
            };
            let num = argc - sp - 1;
            if num == 0 || !num.is_multiple_of(2) {
                return Vec::new();
            }
            let num = num / 2;
            (sp + 1..argc - num)
                .map(|pos| KeyRef { pos, flags: 0 })
                .collect()
        }
        GetKeysProc::Set => {
            let get = argv.iter().skip(3).any(|a| {
                let a = cstr(a);
                a.len() == 3 && a.eq_ignore_ascii_case(b"get")
            });
            let flags = if get {
                RW | ACCESS | UPDATE
            } else {
                OW | UPDATE
            };
            vec![KeyRef { pos: 1, flags }]
        }
        GetKeysProc::Bitfield => {
            let mut readonly = true;
            let mut i = 2;
            while i < argc {
                let remargs = argc - i - 1;
                let a = &argv[i];
                if is(a, b"get") && remargs >= 2 {
                    i += 2;
                } else if (is(a, b"set") || is(a, b"incrby")) && remargs >= 3 {
                    readonly = false;
                    break;
                } else if is(a, b"overflow") && remargs >= 1 {
                    i += 1;
                } else {
                    // A syntax error: safer to assume a write.
                    readonly = false;
                    break;
                }
                i += 1;
            }
            let flags = if readonly {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            vec![KeyRef { pos: 1, flags }]
        }
    }
}

/// The keys of a command line (`argv[0]` is the command name, positions
/// count from it) and their flags, as COMMAND GETKEYSANDFLAGS reports them:
/// `getKeysSubcommandImpl` after the command lookup.
pub fn get_keys(
    cmd: &Command,
    argv: &[Vec<u8>],
) -> Result<Vec<(usize, Vec<String>)>, GetKeysError> {
    cmd.key_specs.get_keys(cmd.arity, argv)
}

impl KeySpecs {
    /// `get_keys` for a command of this arity.
    pub fn get_keys(
        &self,
        arity: i64,
        argv: &[Vec<u8>],
    ) -> Result<Vec<(usize, Vec<String>)>, GetKeysError> {
        if !self.has_keys() {
            return Err(GetKeysError::NoKeyArguments);
        }
        let argc = argv.len() as i64;
        if (arity > 0 && arity != argc) || argc < -arity {
            return Err(GetKeysError::WrongArity);
        }
        let keys = self.keys(argv, 0);
        if keys.is_empty() && !self.no_mandatory_keys {
            return Err(GetKeysError::InvalidArguments);
        }
        Ok(keys
            .into_iter()
            .map(|k| (k.pos, flag_names(k.flags)))
            .collect())
    }
}

/// `getKeysFromCommand`, the older search CLIENT TRACKING and cluster
/// redirection use: the getkeys proc if the command has one, else the legacy
/// first/last/step range of COMMAND INFO (`not_key` specs included, no
/// flags; a variadic line too short for the range has no keys at all).
pub fn legacy_keys(cmd: &Command, argv: &[Vec<u8>]) -> Vec<usize> {
    if let Some(proc_) = cmd.key_specs.getkeys {
        return run_proc(proc_, argv).into_iter().map(|k| k.pos).collect();
    }
    let (first, step) = (cmd.first_key, cmd.key_step.max(1));
    if first <= 0 {
        return Vec::new();
    }
    let argc = argv.len() as i64;
    let last = if cmd.last_key < 0 {
        argc + cmd.last_key
    } else {
        cmd.last_key
    };
    let mut keys = Vec::new();
    let mut j = first;
    while j <= last {
        if j >= argc {
            return Vec::new();
        }
        keys.push(j as usize);
        j += step;
    }
    keys
}

/// `COMMAND GETKEYS cmd arg…` (`with_flags` false) and `COMMAND
/// GETKEYSANDFLAGS cmd arg…`.
pub fn getkeys_command(table: &CommandTable, argv: &[Vec<u8>], with_flags: bool) -> Reply {
    let args = &argv[2..];
    let Some(cmd) = table.lookup(args) else {
        return Reply::err("ERR Invalid command specified");
    };
    match get_keys(cmd, args) {
        Err(e) => Reply::err(e.message()),
        Ok(keys) => Reply::Array(
            keys.into_iter()
                .map(|(pos, flags)| {
                    let key = Reply::Bulk(args[pos].clone());
                    if with_flags {
                        Reply::Array(vec![
                            key,
                            Reply::Set(flags.into_iter().map(Reply::Simple).collect()),
                        ])
                    } else {
                        key
                    }
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Every command of redis-server 7.0's table (implemented or not), by
    /// full name: its key specs and arity.
    fn redis_command(name: &str) -> (KeySpecs, i64) {
        fn find(entries: &[Reply], name: &str) -> Option<(KeySpecs, i64)> {
            for e in entries {
                let Reply::Array(f) = e else { continue };
                let full = text(&f[0]).to_ascii_lowercase();
                if full == name {
                    let Reply::Int(arity) = f[1] else { return None };
                    return Some((KeySpecs::parse(&full, e), arity));
                }
                if let Some(Reply::Array(subs)) = f.get(9) {
                    if let Some(found) = find(subs, name) {
                        return Some(found);
                    }
                }
            }
            None
        }
        let data = include_bytes!("../../data/command-info.resp");
        let Ok(Some((Reply::Array(entries), _))) = crate::protocol::parse_reply(data) else {
            panic!("command-info.resp parses");
        };
        find(&entries, name).expect("a redis command")
    }

    fn keys(line: &str) -> Result<Vec<(usize, Vec<String>)>, GetKeysError> {
        let a = argv(line);
        let name = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
        let sub = a
            .get(1)
            .map(|s| format!("{name}|{}", String::from_utf8_lossy(s).to_ascii_lowercase()));
        let (ks, arity) = match sub {
            Some(sub) if matches!(name.as_str(), "object" | "memory" | "xinfo" | "command") => {
                redis_command(&sub)
            }
            _ => redis_command(&name),
        };
        ks.get_keys(arity, &a)
    }

    fn positions(line: &str) -> Vec<usize> {
        keys(line).unwrap().into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn keyspecs_parse_from_command_info() {
        let sort = &redis_command("sort").0;
        assert_eq!(sort.specs.len(), 3);
        assert_eq!(sort.specs[0].begin_search, BeginSearch::Index(1));
        assert_eq!(sort.specs[1].begin_search, BeginSearch::Unknown);
        assert_eq!(sort.getkeys, Some(GetKeysProc::Sort));
        let migrate = &redis_command("migrate").0;
        assert_eq!(
            migrate.specs[1].begin_search,
            BeginSearch::Keyword {
                keyword: b"KEYS".to_vec(),
                startfrom: -2
            }
        );
        assert_ne!(migrate.specs[1].flags & INCOMPLETE, 0);
        let eval = &redis_command("eval").0;
        assert!(eval.no_mandatory_keys);
        assert_eq!(
            eval.specs[0].find_keys,
            FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1
            }
        );
    }

    #[test]
    fn keyspecs_extract_as_redis() {
        assert_eq!(positions("get k"), vec![1]);
        assert_eq!(positions("mset a 1 b 2"), vec![1, 3]);
        assert_eq!(positions("eval s 2 a b c"), vec![3, 4]);
        assert_eq!(keys("eval s 0").unwrap(), vec![]);
        // string2ll refuses "01"; the proc's atoi takes it (no flags).
        assert_eq!(keys("eval s 01 a").unwrap(), vec![(3, vec![])]);
        assert_eq!(positions("zunionstore d 2 a b weights 1 2"), vec![1, 3, 4]);
        assert_eq!(positions("sort k by x store d get y"), vec![1, 5]);
        assert_eq!(
            keys("sort k store d").unwrap()[1].1,
            vec!["OW".to_string(), "update".to_string()]
        );
        assert_eq!(positions("migrate h p  0 5 keys a b"), vec![7, 8]);
        assert_eq!(positions("xread count 2 streams a b 0 0"), vec![4, 5]);
        assert_eq!(
            keys("xread count 1 streams a"),
            Err(GetKeysError::InvalidArguments)
        );
        assert_eq!(positions("georadius k 0 0 1 km store d"), vec![1, 7]);
        assert_eq!(
            keys("set k v get").unwrap()[0].1,
            vec!["RW", "access", "update"]
        );
        assert_eq!(
            keys("bitfield k get u8 0").unwrap()[0].1,
            vec!["RO", "access"]
        );
        assert_eq!(keys("lmpop 0 a left"), Err(GetKeysError::InvalidArguments));
        assert_eq!(keys("ping"), Err(GetKeysError::NoKeyArguments));
        assert_eq!(keys("get"), Err(GetKeysError::WrongArity));
    }

    #[test]
    fn keyspecs_legacy_range_and_procs() {
        let table = CommandTable::shared();
        let legacy = |line: &str| {
            let a = argv(line);
            legacy_keys(table.lookup(&a).unwrap(), &a)
        };
        assert_eq!(legacy("mset a 1 b"), vec![1, 3]);
        assert_eq!(legacy("mget a b c"), vec![1, 2, 3]);
        assert_eq!(legacy("sort k store d"), vec![1, 3]);
        assert_eq!(legacy("ping"), Vec::<usize>::new());
    }

    #[test]
    fn keyspecs_atoi_is_glibcs() {
        assert_eq!(atoi(b" 12x"), 12);
        assert_eq!(atoi(b"+3"), 3);
        assert_eq!(atoi(b"-"), 0);
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoi(b"99999999999999999999"), -1);
        assert_eq!(atoi(b"1\x002"), 1);
    }
}
