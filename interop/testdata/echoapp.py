"""The application behind nginx or Caddy in the front-end tests.

It answers every request with JSON: the method, path and headers it
received; the claims of X-Gatehouse-Jwt-Assertion once PyJWT has verified
it against Gatehouse's JWKS (ES256, issuer, audience); and, when the request
names a delegated credential cache in X-Remote-Ccache, what `kvno SPN`
printed when run with KRB5CCNAME set to it (the app acting as the user),
and, when OTHER_URL is set, what `curl --negotiate` got from it so.

usage: echoapp.py JWKS_URL AUDIENCE SPN   (prints its port, then serves)
"""
import http.server
import json
import os
import subprocess
import sys

import jwt

jwks_url, audience, spn = sys.argv[1:4]
jwks = jwt.PyJWKClient(jwks_url)


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        out = {"method": self.command, "path": self.path,
               "headers": {k.lower(): self.headers.get_all(k) for k in self.headers.keys()}}
        tok = self.headers.get("X-Gatehouse-Jwt-Assertion")
        if tok:
            try:
                key = jwks.get_signing_key_from_jwt(tok)
                out["claims"] = jwt.decode(tok, key.key, algorithms=["ES256"], audience=audience,
                                           issuer="gatehouse", options={"require": ["exp", "iat", "sub"]})
            except Exception as e:  # reported to the test, which fails on it
                out["jwt_error"] = "%s: %s" % (type(e).__name__, e)
        cc = self.headers.get("X-Remote-Ccache")
        if cc:
            env = dict(os.environ, KRB5CCNAME="FILE:" + cc)
            p = subprocess.run(["kvno", spn], env=env, capture_output=True, text=True)
            out["kvno"] = {"rc": p.returncode, "out": p.stdout + p.stderr}
            other = os.environ.get("OTHER_URL")  # http://elsewhere:PORT/ (HTTP/elsewhere)
            if other:
                host_port = other.split("/")[2]
                port = host_port.split(":")[1]
                p = subprocess.run(["curl", "-s", "--negotiate", "-u", ":", "--resolve", "elsewhere:%s:127.0.0.1" % port,
                                    "-H", "Accept: application/json", other], env=env, capture_output=True, text=True)
                out["curl"] = {"rc": p.returncode, "out": p.stdout + p.stderr}
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
