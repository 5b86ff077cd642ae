"""HTTP plumbing shared by the main server and the standalone IMDS."""
import http.server
import os
import signal
import socket
import struct
import threading
import time


class BaseHandler(http.server.BaseHTTPRequestHandler):
    # Headers and body go out in two writes: with Nagle on, a keep-alive
    # client waits ~40 ms for a delayed ACK on each answer.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server_version = "AmazonEC2"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # the sim keeps its own request log
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_body(self, status, body, content_type="text/xml", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop(self, hang=0.0):
        """Answer nothing: optionally hold the socket, then reset it (simulated outage)."""
        if hang:
            time.sleep(hang)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(server, ready_file, on_stop=None):
    """Write the port to ready_file atomically, serve until SIGTERM/SIGINT, exit cleanly."""
    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready_file:
        tmp = f"{ready_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.replace(tmp, ready_file)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        if on_stop:
            on_stop()
        server.server_close()
