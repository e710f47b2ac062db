#!/usr/bin/env python3
"""Raw HTTP clients for test_hardening.sh (what curl will not send).

  slow-headers PORT SECS   one header byte a second; prints the seconds until
                           the server closed the connection (or SECS)
  slow-body PORT SECS      whole headers, then one body byte a second; same
  cl-te PORT               Content-Length and Transfer-Encoding together;
                           prints the response
  idle PORT N              opens N connections that send nothing, then one
                           more; prints how many of the N+1 were closed by
                           the server within 1 s
  hold PORT N XFF          N POSTs whose body never completes, with
                           X-Forwarded-For: XFF, then one more request with
                           the same XFF; prints that request's response
"""
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s, secs=5.0):
    s.settimeout(secs)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        if len(body) >= int(line.split(b":")[1]):
                            return out
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def trickle(port, first, rest, secs):
    s = connect(port)
    t0 = time.monotonic()
    try:
        s.sendall(first)
        for ch in rest:
            if time.monotonic() - t0 > secs:
                break
            s.sendall(bytes([ch]))
            s.settimeout(1.0)
            try:
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("%.1f" % (time.monotonic() - t0))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "slow-headers":
        secs = float(sys.argv[3])
        trickle(port, b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n", secs)
    elif cmd == "slow-body":
        secs = float(sys.argv[3])
        head = b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n"
        trickle(port, head, b"{" + b" " * 298 + b"}", secs)
    elif cmd == "cl-te":
        s = connect(port)
        s.sendall(b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        sys.stdout.write(read_all(s).decode("utf-8", "replace"))
    elif cmd == "idle":
        n = int(sys.argv[3])
        socks = [connect(port) for _ in range(n + 1)]
        time.sleep(1.0)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        print(closed)
        for s in socks:
            s.close()
    elif cmd == "hold":
        n, xff = int(sys.argv[3]), sys.argv[4]
        head = ("POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "X-Forwarded-For: %s\r\nContent-Length: 100\r\n\r\n{" % xff).encode()
        socks = []
        for _ in range(n):
            s = connect(port)
            s.sendall(head)
            socks.append(s)
        time.sleep(0.3)
        s = connect(port)
        s.sendall(("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nConnection: close\r\n\r\n" % xff).encode())
        sys.stdout.write(read_all(s).decode("utf-8", "replace"))
        for h in socks:
            h.close()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
