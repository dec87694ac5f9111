#!/usr/bin/env python3
"""bench/delay_proxy.py: a TCP proxy on 127.0.0.1 that looks like a remote
registry: each chunk is delivered one-way-delay later (RTT/2 each way), and
each direction is a link with a token-bucket bandwidth cap shared by all
connections (a chunk occupies the link for len/rate seconds, queued behind
the chunks before it).  This kernel has no sch_netem, hence this.

A new connection costs one RTT (the TCP handshake) before the client's
first bytes go on their way.  It counts what the client would pay for: bytes upstream -> client, bytes
client -> upstream, connections, and HTTP requests (request lines seen in
the client -> upstream stream; plain HTTP/1.x only, which is what the
bench uses).

A control port (line protocol, 127.0.0.1) reads and changes it at run time:
  stats      -> one JSON line with the counters
  reset      -> counters to zero (answers "ok")
  set RTT_MS RATE_MBIT   -> new delay and cap for chunks from now on ("ok")

  delay_proxy.py --listen PORT --upstream HOST:PORT --control PORT
                 [--rtt-ms 20] [--rate-mbit 1000] [--port-file F]
"""
import argparse
import asyncio
import json
import re
import sys
import time

CHUNK = 64 * 1024
QUEUE_CHUNKS = 512          # per direction per connection, bounds memory
REQ_RE = re.compile(rb"(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ HTTP/1\.[01]\r\n")


class Link:
    """One direction of the emulated path: serialisation at rate, then delay."""

    def __init__(self):
        self.busy_until = 0.0

    def schedule(self, nbytes, now, rate_bps, delay, not_before=0.0):
        start = max(now, self.busy_until, not_before)
        done = start + (nbytes * 8.0 / rate_bps if rate_bps > 0 else 0.0)
        self.busy_until = done
        return done + delay


class Proxy:
    def __init__(self, upstream, rtt_ms, rate_mbit):
        self.up_host, self.up_port = upstream
        self.set(rtt_ms, rate_mbit)
        self.down = Link()    # upstream -> client
        self.uplink = Link()  # client -> upstream
        self.reset()

    def set(self, rtt_ms, rate_mbit):
        self.delay = rtt_ms / 2000.0
        self.rate = rate_mbit * 1e6
        self.rtt_ms, self.rate_mbit = rtt_ms, rate_mbit

    def reset(self):
        self.c = {"bytes_down": 0, "bytes_up": 0, "requests": 0,
                  "connections": 0, "methods": {}}

    def stats(self):
        d = dict(self.c)
        d["rtt_ms"], d["rate_mbit"] = self.rtt_ms, self.rate_mbit
        return d

    async def pump(self, reader, writer, link, count_key, parse_requests, not_before=0.0):
        loop = asyncio.get_running_loop()
        q = asyncio.Queue(QUEUE_CHUNKS)
        tail = b""

        async def sender():
            while True:
                item = await q.get()
                if item is None:
                    break
                due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                try:
                    writer.write_eof()
                except OSError:
                    pass

        task = asyncio.create_task(sender())
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                self.c[count_key] += len(data)
                if parse_requests:
                    buf = tail + data
                    for m in REQ_RE.finditer(buf):
                        self.c["requests"] += 1
                        meth = m.group(1).decode()
                        self.c["methods"][meth] = self.c["methods"].get(meth, 0) + 1
                    # keep a tail so a request line split across chunks is
                    # seen once: cut after the last match, at most 4 KiB
                    last = 0
                    for m in REQ_RE.finditer(buf):
                        last = m.end() - 2
                    tail = buf[max(last, len(buf) - 4096):]
                await q.put((link.schedule(len(data), loop.time(), self.rate, self.delay,
                                           not_before), data))
        except (ConnectionError, OSError):
            pass
        finally:
            await q.put(None)
            try:
                await task
            except (ConnectionError, OSError):
                pass

    async def handle(self, creader, cwriter):
        self.c["connections"] += 1
        # The TCP handshake with a remote registry costs one RTT before the
        # client's first byte can leave: nothing goes upstream before then.
        handshake_done = asyncio.get_running_loop().time() + 2 * self.delay
        try:
            ureader, uwriter = await asyncio.open_connection(self.up_host, self.up_port)
        except OSError:
            cwriter.close()
            return
        try:
            await asyncio.gather(
                self.pump(creader, uwriter, self.uplink, "bytes_up", True, handshake_done),
                self.pump(ureader, cwriter, self.down, "bytes_down", False))
        finally:
            for w in (uwriter, cwriter):
                try:
                    w.close()
                except OSError:
                    pass

    async def control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                words = line.decode().split()
                if not words:
                    continue
                if words[0] == "stats":
                    out = json.dumps(self.stats())
                elif words[0] == "reset":
                    self.reset()
                    out = "ok"
                elif words[0] == "set" and len(words) == 3:
                    self.set(float(words[1]), float(words[2]))
                    out = "ok"
                else:
                    out = "error: unknown command"
                writer.write(out.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--control", type=int, default=0)
    ap.add_argument("--rtt-ms", type=float, default=20.0)
    ap.add_argument("--rate-mbit", type=float, default=1000.0)
    ap.add_argument("--port-file", help="write 'LISTEN CONTROL' here once listening")
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    p = Proxy((host, int(port)), a.rtt_ms, a.rate_mbit)
    srv = await asyncio.start_server(p.handle, "127.0.0.1", a.listen, reuse_address=True)
    ctl = await asyncio.start_server(p.control, "127.0.0.1", a.control, reuse_address=True)
    lport = srv.sockets[0].getsockname()[1]
    cport = ctl.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{lport} {cport}\n")
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    print(f"delay_proxy: 127.0.0.1:{lport} -> {a.upstream}, control {cport}", file=sys.stderr)
    async with srv, ctl:
        await asyncio.gather(srv.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
