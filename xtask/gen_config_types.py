#!/usr/bin/env python3
"""Regenerates engine/data/config-types.txt by probing a throwaway redis-server
7.0 with CONFIG SET: for every parameter, the error Redis gives for a
non-number and for an out-of-range number tells its type and range.
Usage: gen_config_types.py PORT   (the server's config is changed: use a scratch one)
"""
import re, socket, sys

def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode(); out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
def call(args):
    s.sendall(enc(args) + enc(["PING", "zz"]))
    d = b""
    while not d.endswith(b"$2\r\nzz\r\n"):
        d += s.recv(65536)
    return d[:-8].decode(errors="replace").strip()

names = [l.split("\t")[0] for l in open("engine/data/config-defaults.txt") if not l.startswith("#")]
out = ["# Types of Redis 7.0 config parameters, probed with CONFIG SET by xtask/gen_config_types.py.",
       "# name TAB kind TAB detail (int: min max; enum: options)"]
for n in names:
    if n in ("requirepass", "masterauth", "masteruser", "bind", "port", "replicaof", "slaveof", "save", "dir", "dbfilename"):
        continue
    r1 = call(["CONFIG", "SET", n, "notanumber"])
    r2 = call(["CONFIG", "SET", n, "-99999999999999999999999"])
    r3 = call(["CONFIG", "SET", n, "-9223372036854775807"])
    m = re.search(r"between (-?\d+) and (-?\d+) inclusive", r3) or re.search(r"between (-?\d+) and (-?\d+) inclusive", r2)
    if "immutable" in r1:
        kind, detail = "immutable", ""
    elif "can't set protected config" in r1:
        kind, detail = "protected", ""
    elif "'yes' or 'no'" in r1:
        kind, detail = "bool", ""
    elif "one of the following" in r1:
        kind, detail = "enum", r1.split("following: ", 1)[1]
    elif "memory value" in r1:
        r4 = call(["CONFIG", "SET", n, "0"])
        m = m or re.search(r"between (-?\d+) and (-?\d+) inclusive", r4)
        kind, detail = "memory", (m.group(1) + " " + m.group(2)) if m else "0 9223372036854775807"
    elif "parsed into an integer" in r1:
        kind, detail = "int", (m.group(1) + " " + m.group(2)) if m else "-9223372036854775808 9223372036854775807"
    elif r1.startswith("+OK"):
        kind, detail = "string", ""
    else:
        kind, detail = "special", r1
    out.append(f"{n}\t{kind}\t{detail}")
open("engine/data/config-types.txt", "w").write("\n".join(out) + "\n")
