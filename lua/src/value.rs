//! Value representation: the `Value` enum, typed heap handles and the error type.

use std::fmt;

/// Handle to an interned Lua string in the heap (index plus the cached 5.1 string hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StrRef(pub(crate) u32, pub(crate) u32);

/// Handle to a Lua table in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableRef(pub(crate) u32);

/// Handle to a function (Lua closure or native) in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FnRef(pub(crate) u32);

/// Handle to a coroutine (a Lua `thread`) in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadRef(pub(crate) u32);

/// A Lua value. Strings, tables, functions and threads are handles into the interpreter's heap;
/// they stay valid while reachable from Lua (globals, registry, the running stack) or
/// pinned with [`crate::Lua::pin`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Nil,
    Boolean(bool),
    Number(f64),
    String(StrRef),
    Table(TableRef),
    Function(FnRef),
    /// A light userdata (an opaque pointer-sized value); `cjson.null` is `LightUserData(0)`.
    LightUserData(usize),
    /// A coroutine (`coroutine.create`), of Lua type `thread`.
    Thread(ThreadRef),
}

impl Value {
    /// Lua truthiness: everything except nil and false is true.
    #[inline]
    pub fn truthy(self) -> bool {
        !matches!(self, Value::Nil | Value::Boolean(false))
    }
    #[inline]
    pub fn is_nil(self) -> bool {
        matches!(self, Value::Nil)
    }
    /// The type name as `type()` returns it.
    pub fn type_name(self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Boolean(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
            Value::Function(_) => "function",
            Value::LightUserData(_) => "userdata",
            Value::Thread(_) => "thread",
        }
    }
    pub fn as_table(self) -> Option<TableRef> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }
    pub fn as_number(self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_str_ref(self) -> Option<StrRef> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_function(self) -> Option<FnRef> {
        match self {
            Value::Function(f) => Some(f),
            _ => None,
        }
    }
}

/// What kind of failure a [`LuaError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A compile error (the value is the message string).
    Syntax,
    /// A runtime error raised by `error`, a native, or the VM (value is the error object).
    Runtime,
    /// The call was ended with [`crate::Lua::kill`]; `pcall` cannot catch it.
    Killed,
}

/// An error: its Lua value (usually a string such as `user_script:1: oops`) and kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LuaError {
    pub kind: ErrorKind,
    pub value: Value,
}

impl LuaError {
    pub(crate) fn runtime(value: Value) -> Self {
        LuaError {
            kind: ErrorKind::Runtime,
            value,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self)
    }
}
