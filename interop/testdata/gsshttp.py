#!/usr/bin/python3
"""gsshttp.py: a small HTTP server or forward proxy whose authentication is
python-gssapi's acceptor -- MIT krb5 for Negotiate, gss-ntlmssp for NTLM --
so that Gatehouse's client is tested against a real GSS-API peer, not
against itself.

usage: gsshttp.py server|proxy Negotiate|NTLM [--tls CERT KEY]

  server  answers 401 + WWW-Authenticate until the handshake completes, then
          200 with a JSON body: user, mech, delegated, and (when credentials
          were delegated) delegation_use: the result of using them to get a
          ticket for HTTP/elsewhere.
  proxy   answers 407 + Proxy-Authenticate, on CONNECT and on absolute-URI
          requests, then tunnels or forwards. The handshake is bound to the
          client's connection, as NTLM needs.
  --tls   serve HTTPS with CERT/KEY (PEM); the acceptor is then given the
          RFC 5929 tls-server-end-point channel bindings of CERT and refuses
          a client whose bindings differ (gss-ntlmssp and MIT both still
          admit a client that sends none: the tests pair a direct login,
          which proves the bindings right, with a relayed one, which proves
          they are sent).

Prints "PORT <n>" once listening on 127.0.0.1. Users for NTLM come from
NTLM_USER_FILE (gss-ntlmssp), the keytab from KRB5_KTNAME.
"""
import base64
import hashlib
import http.client
import json
import select
import socket
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gssapi

NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")

MODE, SCHEME = sys.argv[1], sys.argv[2]
CB = None  # channel bindings application data, with --tls


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ctx = None
    authenticated = False

    def log_message(self, fmt, *args):
        sys.stderr.write("gsshttp: " + (fmt % args) + "\n")

    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authenticate(self):
        """Returns (ok, output token); answers the challenge itself when not ok."""
        inh, outh, code = ("Proxy-Authorization", "Proxy-Authenticate", 407) if MODE == "proxy" \
            else ("Authorization", "WWW-Authenticate", 401)
        v = self.headers.get(inh)
        if not v and MODE == "proxy" and self.authenticated:
            return True, None  # the connection authenticated already
        if not v or not v.lower().startswith(SCHEME.lower() + " "):
            self.ctx = None
            self.reply(code, [(outh, SCHEME)], b"authentication required\n")
            return False, None
        if self.ctx is None or self.ctx.complete:
            creds = gssapi.Credentials(usage="accept", mechs=[NTLM] if SCHEME == "NTLM" else None)
            cb = gssapi.raw.ChannelBindings(application_data=CB) if CB else None
            self.ctx = gssapi.SecurityContext(usage="accept", creds=creds, channel_bindings=cb)
        try:
            out = self.ctx.step(base64.b64decode(v.split(" ", 1)[1].strip()))
        except gssapi.exceptions.GSSError as e:
            self.ctx = None
            self.log_message("refused: %s", str(e).replace("\n", " "))
            self.reply(code, [(outh, SCHEME)], b"refused\n")
            return False, None
        if not self.ctx.complete:
            self.reply(code, [(outh, SCHEME + " " + base64.b64encode(out or b"").decode())], b"continue\n")
            return False, None
        self.authenticated = True
        return True, out

    def info(self):
        d = {"user": str(self.ctx.initiator_name), "mech": str(self.ctx.mech),
             "delegated": self.ctx.delegated_creds is not None,
             "remote_user": self.headers.get("X-Remote-User")}
        if self.ctx.delegated_creds is not None:
            try:
                target = gssapi.Name("HTTP/elsewhere@EXAMPLE.TEST", gssapi.NameType.kerberos_principal)
                c = gssapi.SecurityContext(name=target, creds=self.ctx.delegated_creds, usage="initiate", mech=KRB5)
                c.step()
                d["delegation_use"] = "ok"
            except gssapi.exceptions.GSSError as e:
                d["delegation_use"] = str(e).replace("\n", " ")
        return d

    def do_GET(self):
        self.drain()
        if MODE == "proxy":
            return self.forward()
        ok, out = self.authenticate()
        if not ok:
            return
        hdrs = [("Content-Type", "application/json")]
        if out:
            hdrs.append(("WWW-Authenticate", SCHEME + " " + base64.b64encode(out).decode()))
        self.reply(200, hdrs, json.dumps(self.info()).encode() + b"\n")

    do_POST = do_GET

    def forward(self):
        ok, _ = self.authenticate()
        if not ok:
            return
        u = urllib.parse.urlsplit(self.path)
        if u.scheme != "http":
            return self.reply(400, body=b"absolute http:// URI expected\n")
        c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "proxy-connection")}
        c.request(self.command, u.path + ("?" + u.query if u.query else ""), headers=hdrs)
        r = c.getresponse()
        body = r.read()
        self.reply(r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")], body)

    def do_CONNECT(self):
        self.drain()
        if MODE != "proxy":
            return self.reply(405)
        ok, _ = self.authenticate()
        if not ok:
            return
        host, _, port = self.path.rpartition(":")
        try:
            up = socket.create_connection((host, int(port)), timeout=10)
        except OSError as e:
            return self.reply(502, body=str(e).encode())
        self.log_message("tunnel to %s for %s", self.path, self.ctx.initiator_name)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        conns = [self.connection, up]
        try:
            while True:
                r, _, _ = select.select(conns, [], [], 30)
                if not r:
                    break
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise EOFError
                    (up if s is self.connection else self.connection).sendall(data)
        except (EOFError, OSError):
            pass
        up.close()
        self.close_connection = True


def main():
    global CB
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if "--tls" in sys.argv:
        i = sys.argv.index("--tls")
        cert, key = sys.argv[i + 1], sys.argv[i + 2]
        der = ssl.PEM_cert_to_DER_cert(open(cert).read())
        CB = b"tls-server-end-point:" + hashlib.sha256(der).digest()
        tc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tc.load_cert_chain(cert, key)
        srv.socket = tc.wrap_socket(srv.socket, server_side=True)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
