#!/usr/bin/env python3
"""Regenerates engine/data/*.resp from a real redis-server (Redis 7.0).

The engine's command table takes arity, flags, key specs and docs from these
files, so COMMAND INFO / COMMAND DOCS answer byte-for-byte like Redis for the
commands cachelab supports. Usage: gen_command_data.py PORT
"""
import socket, sys

NAMES = """del unlink exists type keys scan randomkey rename renamenx copy move expire pexpire
expireat pexpireat ttl pttl expiretime pexpiretime persist touch dbsize flushdb flushall object
get set setnx setex psetex getset getdel getex mget mset msetnx append strlen getrange substr
setrange incr decr incrby decrby incrbyfloat ping echo quit reset hello select swapdb client info
time memory config command auth replicaof slaveof role wait debug
setbit getbit bitcount bitpos bitop bitfield bitfield_ro pfadd pfcount pfmerge
hset hmset hsetnx hget hmget hgetall hkeys hvals hdel hexists hlen hstrlen hincrby hincrbyfloat
hrandfield hscan
lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset linsert lrem ltrim lpos lmove lmpop
rpoplpush blpop brpop blmove blmpop brpoplpush
sadd srem smembers sismember smismember scard spop srandmember smove sinter sintercard sinterstore
sunion sunionstore sdiff sdiffstore sscan
zadd zincrby zscore zmscore zcard zcount zlexcount zrange zrangestore zrevrange zrangebyscore
zrevrangebyscore zrangebylex zrevrangebylex zrank zrevrank zrem zremrangebyrank zremrangebyscore
zremrangebylex zpopmin zpopmax zmpop bzpopmin bzpopmax bzmpop zunion zinter zdiff zunionstore
zinterstore zdiffstore zintercard zrandmember zscan
geoadd geopos geodist geohash geosearch geosearchstore georadius georadiusbymember georadius_ro
georadiusbymember_ro
subscribe unsubscribe psubscribe punsubscribe publish pubsub ssubscribe sunsubscribe spublish
xadd xlen xrange xrevrange xread xdel xtrim xgroup xreadgroup xack xpending xclaim xautoclaim xinfo xsetid
multi exec discard watch unwatch""".split()

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
open("engine/data/command-info.resp", "wb").write(call(port, ["COMMAND", "INFO"] + NAMES))
open("engine/data/command-docs.resp", "wb").write(call(port, ["COMMAND", "DOCS"] + NAMES))

help_out = b""
for c in ["OBJECT", "CONFIG", "CLIENT", "COMMAND", "MEMORY"]:
    help_out += call(port, [c, "HELP"])
open("engine/data/help.resp", "wb").write(help_out)
