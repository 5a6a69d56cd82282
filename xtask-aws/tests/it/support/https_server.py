"""Serves a directory over HTTPS and plain HTTP on 127.0.0.1, for the wrapper's tests.

Usage: python3 https_server.py ROOT CERT KEY

Prints "<https port> <http port> <ftp port>" on one line once all listen, and stops
when its standard input closes (the test that started it holds the other end). Over
HTTPS, a path under /to-http/ answers 302 with the same path on the plain HTTP port,
and one under /to-ftp/ with an ftp:// URL of the FTP port: the redirects a download
must refuse. The FTP port is bound and never listens, so a connection to it is refused
at once (a client that follows the redirect fails; nothing is served over FTP, and
wget, which retries an FTP server's errors for minutes, does not retry a refusal). Every request is logged to standard error.
"""

import http.server
import socket
import ssl
import sys
import threading


def handler(root, ports):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=root, **kwargs)

        def do_GET(self):
            for scheme in ("http", "ftp"):
                prefix = f"/to-{scheme}/"
                if self.path.startswith(prefix):
                    self.send_response(302)
                    self.send_header("Location", f"{scheme}://127.0.0.1:{ports[scheme]}/{self.path[len(prefix):]}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            super().do_GET()

        def log_message(self, format, *args):
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            sys.stderr.write(f"{scheme} {format % args}\n")

    return Handler


def main():
    root, cert, key = sys.argv[1:4]
    ports = {}
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(root, ports))
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(root, ports))
    ftp = socket.socket()
    ftp.bind(("127.0.0.1", 0))
    ports["ftp"] = ftp.getsockname()[1]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # BusyBox wget's own TLS (used when no openssl is on PATH) fails the handshake at
    # OpenSSL's default security level; TLS 1.3 and this 1.2 suite stay on offer.
    context.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    ports["http"] = plain.server_address[1]
    for server in (plain, secure):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(secure.server_address[1], plain.server_address[1], ports["ftp"], flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
