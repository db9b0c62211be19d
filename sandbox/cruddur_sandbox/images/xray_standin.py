"""Stand-in for the AWS X-Ray daemon (the fallback when no C compiler is on the
machine; see xray_standin.c for the static one). Listens on 0.0.0.0:2000 UDP
(each datagram logged in one line) and TCP (the SDKs' sampling API, answered
with no rules). Runs as any user; ignores its arguments."""

import selectors
import signal
import socket
import sys

PORT = 2000
running = True


def stop(*_):
    global running
    running = False


def main():
    signal.signal(signal.SIGTERM, stop)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", PORT))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", PORT))
    tcp.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    sel.register(tcp, selectors.EVENT_READ)
    print(f"xray stand-in (sandbox): listening on 0.0.0.0:{PORT} udp and tcp", flush=True)
    while running:
        for key, _ in sel.select(timeout=1):
            if key.fileobj is udp:
                data, peer = udp.recvfrom(65536)
                text = data[:300].decode("utf-8", "replace").replace("\n", " ")
                print(f"xray stand-in: received {len(data)} bytes from {peer[0]}:{peer[1]}: {text}", flush=True)
            else:
                conn, _ = tcp.accept()
                with conn:
                    req = conn.recv(8192).decode("latin-1")
                    if "SamplingTargets" in req:
                        body = b'{"LastRuleModification":0,"SamplingTargetDocuments":[],"UnprocessedStatistics":[]}'
                    else:
                        body = b'{"SamplingRuleRecords":[]}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
    print("xray stand-in: stopping", flush=True)


if __name__ == "__main__":
    sys.exit(main())
