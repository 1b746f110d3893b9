#!/usr/bin/env python3
"""Sends one REGISTER to a `sipr serve` on 127.0.0.1 and prints the final
response (LF line ends), for tests/server/registrar_rules.sh.

usage: reg_driver.py PORT [options]
  --tcp               send over TCP (default UDP)
  --raw FILE          send FILE's bytes unchanged (nothing else is built)
  --ruri URI          Request-URI (default sip:example.com)
  --to URI            To URI (default sip:alice@example.com); From is the same
  --call-id ID        Call-ID (default a fresh one)
  --cseq N            CSeq number (default 1)
  --contact VALUE     one Contact header with this value; repeatable
  --header 'N: V'     one more header line; repeatable
  --auth USER:PASS    answer a 401 with digest credentials (RFC 7616: qop
                      auth) in a second REGISTER (same Call-ID, CSeq + 1)
  --alg NAME          the challenge to answer: MD5 or SHA-256 (default the
                      first one offered)
  --all               print every response, each followed by a "====" line
  --wait S            seconds to wait for each final response (default 8)

Exit status: 0 when a final response came, 1 when none came in time
(UDP requests are retransmitted per RFC 3261 §17.1.2.2 meanwhile).
Only the Python standard library is used.
"""
import hashlib
import os
import re
import socket
import sys
import time


def usage(msg):
    sys.stderr.write("reg_driver.py: %s\n" % msg)
    sys.exit(2)


def parse_args(argv):
    if not argv:
        usage("PORT missing")
    o = {"port": int(argv[0]), "tcp": False, "raw": None,
         "ruri": "sip:example.com", "to": "sip:alice@example.com",
         "call_id": None, "cseq": 1, "contacts": [], "headers": [],
         "auth": None, "alg": None, "all": False, "wait": 8.0}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("--tcp", "--all"):
            o[a[2:]] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            usage("%s needs a value" % a)
        v = argv[i + 1]
        i += 2
        if a == "--raw":
            o["raw"] = v
        elif a == "--ruri":
            o["ruri"] = v
        elif a == "--to":
            o["to"] = v
        elif a == "--call-id":
            o["call_id"] = v
        elif a == "--cseq":
            o["cseq"] = int(v)
        elif a == "--contact":
            o["contacts"].append(v)
        elif a == "--header":
            o["headers"].append(v)
        elif a == "--auth":
            o["auth"] = v.split(":", 1)
        elif a == "--alg":
            o["alg"] = v
        elif a == "--wait":
            o["wait"] = float(v)
        else:
            usage("unknown option %s" % a)
    return o


class Conn:
    def __init__(self, port, tcp, wait):
        self.tcp = tcp
        self.wait = wait
        self.dest = ("127.0.0.1", port)
        if tcp:
            self.s = socket.create_connection(self.dest, timeout=wait)
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.bind(("127.0.0.1", 0))
        self.lport = self.s.getsockname()[1]
        self.buf = b""

    def send(self, data):
        if self.tcp:
            self.s.sendall(data)
        else:
            self.s.sendto(data, self.dest)

    def final(self, data):
        """Sends data and returns the first final response (bytes), or None.
        UDP: retransmits at T1 = 500 ms doubling (§17.1.2.2) until a
        response comes."""
        wait = self.wait
        t0 = time.monotonic()
        self.send(data)
        t1 = 0.5
        next_tx = t0 + t1
        while True:
            now = time.monotonic()
            if now - t0 >= wait:
                return None
            limit = t0 + wait - now
            if not self.tcp:
                limit = min(limit, max(0.01, next_tx - now))
            self.s.settimeout(limit)
            try:
                chunk = self.s.recv(65535)
            except socket.timeout:
                if not self.tcp and time.monotonic() >= next_tx:
                    self.send(data)
                    t1 = min(2 * t1, 4.0)
                    next_tx = time.monotonic() + t1
                continue
            if self.tcp:
                if not chunk:
                    return None
                self.buf += chunk
                msg = self.take()
                while msg is not None:
                    if not is_provisional(msg):
                        return msg
                    msg = self.take()
            elif not is_provisional(chunk):
                return chunk

    def take(self):
        """One framed message from the TCP buffer (Content-Length)."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end + 4]
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
        blen = int(m.group(1)) if m else 0
        if len(self.buf) < end + 4 + blen:
            return None
        msg, self.buf = self.buf[:end + 4 + blen], self.buf[end + 4 + blen:]
        return msg


def is_provisional(msg):
    return msg.startswith(b"SIP/2.0 1")


def build(o, conn, cseq, extra):
    branch = "z9hG4bK-rd-" + os.urandom(6).hex()
    tr = "TCP" if o["tcp"] else "UDP"
    lines = [
        "REGISTER %s SIP/2.0" % o["ruri"],
        "Via: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport" % (tr, conn.lport, branch),
        "Max-Forwards: 70",
        "From: <%s>;tag=%s" % (o["to"], os.urandom(4).hex()),
        "To: <%s>" % o["to"],
        "Call-ID: %s" % o["call_id"],
        "CSeq: %d REGISTER" % cseq,
    ]
    lines += ["Contact: %s" % c for c in o["contacts"]]
    lines += o["headers"] + extra
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8")


def headers(msg, name):
    """Values of every header NAME (case-insensitive, no folding)."""
    out = []
    for line in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            out.append(v.strip().decode("latin-1"))
    return out


def digest_params(value):
    """The parameters of one 'Digest a=b, c="d"' challenge."""
    if not value.lower().startswith("digest "):
        return None
    p = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)',
                         value[7:]):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        p[m.group(1).lower()] = v
    return p


HASH = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def answer(o, resp):
    """The Authorization line answering the 401 resp (RFC 7616 §3.4.1)."""
    user, password = o["auth"]
    chosen = None
    for v in headers(resp, "WWW-Authenticate"):
        p = digest_params(v)
        if p is None:
            continue
        alg = p.get("algorithm", "MD5")
        if alg in HASH and (o["alg"] is None or o["alg"] == alg):
            chosen = p
            break
    if chosen is None:
        return None
    alg = chosen.get("algorithm", "MD5")

    def h(s):
        return HASH[alg](s.encode("utf-8")).hexdigest()

    realm, nonce = chosen["realm"], chosen["nonce"]
    uri, cnonce, nc = o["ruri"], os.urandom(8).hex(), "00000001"
    ha1 = h("%s:%s:%s" % (user, realm, password))
    ha2 = h("REGISTER:%s" % uri)
    line = ('Authorization: Digest username="%s", realm="%s", nonce="%s", '
            'uri="%s", algorithm=%s' % (user, realm, nonce, uri, alg))
    if "qop" in chosen:
        resp_hash = h("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        line += ', qop=auth, nc=%s, cnonce="%s"' % (nc, cnonce)
    else:
        resp_hash = h("%s:%s:%s" % (ha1, nonce, ha2))
    line += ', response="%s"' % resp_hash
    if "opaque" in chosen:
        line += ', opaque="%s"' % chosen["opaque"]
    return line


def show(msg):
    sys.stdout.write(msg.decode("latin-1").replace("\r\n", "\n"))
    if not msg.endswith(b"\r\n\r\n"):
        sys.stdout.write("\n")


def main():
    o = parse_args(sys.argv[1:])
    conn = Conn(o["port"], o["tcp"], o["wait"])
    if o["raw"]:
        with open(o["raw"], "rb") as f:
            resp = conn.final(f.read())
        if resp is None:
            sys.stderr.write("reg_driver.py: no final response\n")
            return 1
        show(resp)
        return 0
    if o["call_id"] is None:
        o["call_id"] = "rd-%s@127.0.0.1" % os.urandom(6).hex()
    resp = conn.final(build(o, conn, o["cseq"], []))
    if resp is not None and o["auth"] and resp.startswith(b"SIP/2.0 401 "):
        if o["all"]:
            show(resp)
            sys.stdout.write("====\n")
        line = answer(o, resp)
        if line is None:
            sys.stderr.write("reg_driver.py: no usable challenge\n")
            return 1
        resp = conn.final(build(o, conn, o["cseq"] + 1, [line]))
    if resp is None:
        sys.stderr.write("reg_driver.py: no final response\n")
        return 1
    show(resp)
    if o["all"]:
        sys.stdout.write("====\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
