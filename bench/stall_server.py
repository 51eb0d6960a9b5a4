#!/usr/bin/env python3
"""bench/stall_server.py — the target of the `truth` scenario (coordinated omission).

A raw HTTP/1.1 keep-alive server (Python 3 standard library, asyncio) on 127.0.0.1 that
answers every request at once (`200 ok`), except that a request arriving in
[5k+2, 5k+3) s is held until 5k+3 s. Time 0 is the arrival of the first request, so a
fresh server per run puts every tool on the same phase of the stall schedule.

It records each request's arrival and answer (seconds since time 0). On SIGTERM or SIGINT
it writes them to --record as JSON {"period", "stall_from", "stall_to", "records":
[[arrival, answered], ...]} and exits 0.

    python3 bench/stall_server.py --port-file P --record R.json
    (prints nothing; the port it bound is written to P once it listens)
"""

import argparse
import asyncio
import json
import os
import signal
import time

PERIOD = 5.0      # a stall every 5 s ...
STALL_FROM = 2.0  # ... for arrivals in [5k+2, 5k+3) ...
STALL_TO = 3.0    # ... answered at 5k+3

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            b"\r\nok\n")
RESPONSE_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                  b"Connection: close\r\n\r\nok\n")


def hold_until(t):
    """When a request arriving at t (s since time 0) is answered: t itself, or 5k+3."""
    phase = t % PERIOD
    if STALL_FROM <= phase < STALL_TO:
        return t - phase + STALL_TO
    return t


class Server:
    def __init__(self):
        self.t0 = None
        self.records = []  # (arrival, answered), seconds since t0

    async def handle(self, reader, writer):
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    break
                now = time.monotonic()
                if self.t0 is None:
                    self.t0 = now
                t = now - self.t0
                lower = head.lower()
                # A body (none expected from the generators, but be correct): Content-Length.
                i = lower.find(b"\r\ncontent-length:")
                if i >= 0:
                    end = lower.find(b"\r\n", i + 2)
                    try:
                        n = int(lower[i + 17:end].strip())
                    except ValueError:
                        n = 0
                    if n > 0:
                        try:
                            await reader.readexactly(n)
                        except (asyncio.IncompleteReadError, ConnectionError):
                            break
                release = hold_until(t)
                if release > t:
                    # Sleep to the absolute instant (monotonic), not for a relative delay.
                    delay = self.t0 + release - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                http10 = lower.split(b"\r\n", 1)[0].endswith(b"http/1.0")
                close = (b"\r\nconnection: close" in lower
                         or (http10 and b"\r\nconnection: keep-alive" not in lower))
                writer.write(RESPONSE_CLOSE if close else RESPONSE)
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                self.records.append((t, time.monotonic() - self.t0))
                if close:
                    break
        except ConnectionError:
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 — the peer is gone; nothing to do
                pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True, help="where to write the bound port")
    ap.add_argument("--record", required=True, help="JSON file written on SIGTERM/SIGINT")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    srv = Server()
    server = await asyncio.start_server(srv.handle, "127.0.0.1", args.port, backlog=4096,
                                        reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    with open(args.record, "w") as f:
        json.dump({"period": PERIOD, "stall_from": STALL_FROM, "stall_to": STALL_TO,
                   "records": [[round(a, 6), round(b, 6)] for a, b in srv.records]}, f)


if __name__ == "__main__":
    asyncio.run(main())
