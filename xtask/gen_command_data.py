#!/usr/bin/env python3
"""Regenerates engine/data/*.resp from a real redis-server (Redis 7.0).

The engine's command table takes arity, flags, key specs and docs from these
files, so COMMAND INFO / COMMAND DOCS answer byte-for-byte like Redis for the
commands cachelab supports. Usage: gen_command_data.py PORT
"""
import socket, sys

# Every command redis-server knows: the engine keeps those it has a handler
# for (engine/src/commands/mod.rs), so implementing a command needs no
# regeneration.
HELP_NAMES = ["OBJECT", "CONFIG", "CLIENT", "COMMAND", "MEMORY", "SCRIPT", "FUNCTION", "SLOWLOG", "LATENCY", "MODULE"]

def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def call(port, args):
    """Sends HELLO 3 then the command; returns the command's RESP3 reply bytes
    (RESP3 keeps maps and sets, which the engine downgrades for RESP2 clients)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(enc(["HELLO", "3"]) + enc(["PING", "mark"]) + enc(args) + enc(["PING", "end"]))
    data = b""
    while not data.endswith(b"$3\r\nend\r\n"):
        data += s.recv(1 << 20)
    s.close()
    start = data.index(b"$4\r\nmark\r\n") + len(b"$4\r\nmark\r\n")
    return data[start : -len(b"$3\r\nend\r\n")]

port = int(sys.argv[1])
if __name__ != "__main__":
    raise SystemExit
open("engine/data/command-info.resp", "wb").write(call(port, ["COMMAND", "INFO"]))
open("engine/data/command-docs.resp", "wb").write(call(port, ["COMMAND", "DOCS"]))

help_out = b""
for c in HELP_NAMES:
    help_out += call(port, [c, "HELP"])
open("engine/data/help.resp", "wb").write(help_out)
