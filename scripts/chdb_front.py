#!/usr/bin/env python3
"""A small HTTP front over chDB (the ClickHouse engine in-process) for tests.

It implements the part of ClickHouse's HTTP interface the Rust `clickhouse` crate
uses: the query in the URL or the body (or a multipart body with `param_*` fields),
`default_format`, `database`, `param_*`, inserts whose data follows in the body,
`/ping`, and errors as HTTP 500 with `X-ClickHouse-Exception-Code`. Compression is
not implemented (clients must use `Compression::None`). The SQL and the row
encodings are the real engine's; only the network layer is this script.

Usage: chdb_front.py PORT [DATA_DIR]   (binds 127.0.0.1 only)
"""

import re
import sys
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb

LOCK = threading.Lock()
CONN = None
INSERT_RE = re.compile(r"^\s*(INSERT\s.*?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)
CODE_RE = re.compile(r"Code:\s*(\d+)")
IDENT_RE = re.compile(r"^[A-Za-z0-9_]+$")


def read_body(handler):
    """The request body, chunked or with a Content-Length."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def multipart_fields(content_type, body):
    """`{name: text}` of a multipart/form-data body."""
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = part.get_payload(decode=True).decode()
    return fields


def run(sql, fmt, params, database, data):
    """Execute one request on the shared connection; returns the response bytes."""
    with LOCK:
        db = database or "default"
        if not IDENT_RE.match(db):
            raise ValueError(f"Code: 81. DB::Exception: invalid database name {db!r}")
        CONN.query(f"USE `{db}`")
        m = INSERT_RE.match(sql)
        if m and data is not None:
            inserter = CONN.send_insert(m.group(1), m.group(2))
            inserter.append(data)
            inserter.finish()
            return b""
        if data:
            sql = sql + "\n" + data.decode()
        result = CONN.query(sql, fmt or "TabSeparated", params=params or None)
        if result is None:
            return b""
        return result.bytes() if hasattr(result, "bytes") else str(result).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlsplit(self.path)
        body = read_body(self) if self.command == "POST" else b""
        if url.path.rstrip("/") == "/ping":
            return self.reply(200, b"Ok.\n")
        qs = dict(parse_qsl(url.query, keep_blank_values=True))
        params = {k[6:]: v for k, v in qs.items() if k.startswith("param_")}
        ctype = self.headers.get("Content-Type", "")
        if self.headers.get("Content-Encoding") or qs.get("decompress") == "1" or qs.get("compress") == "1":
            return self.reply(500, b"Code: 1. DB::Exception: compression is not supported by the chdb front\n",
                              [("X-ClickHouse-Exception-Code", "1")])
        data = None
        if ctype.startswith("multipart/form-data"):
            fields = multipart_fields(ctype, body)
            sql = fields.pop("query", qs.get("query", ""))
            params.update({k[6:]: v for k, v in fields.items() if k.startswith("param_")})
        elif "query" in qs:
            sql, data = qs["query"], body
        else:
            sql = body.decode()
        try:
            out = run(sql, qs.get("default_format"), params, qs.get("database"), data)
        except Exception as e:  # every engine error goes back to the client as ClickHouse would send it
            msg = str(e)
            code = CODE_RE.search(msg)
            return self.reply(500, (msg + "\n").encode(),
                              [("X-ClickHouse-Exception-Code", code.group(1) if code else "1000"),
                               ("Content-Type", "text/plain; charset=UTF-8")])
        self.reply(200, out, [("Content-Type", "application/octet-stream"),
                              ("X-ClickHouse-Format", qs.get("default_format", "TabSeparated"))])

    do_GET = handle_any
    do_POST = handle_any


def main():
    global CONN
    port = int(sys.argv[1])
    CONN = chdb.connect(sys.argv[2] if len(sys.argv) > 2 else ":memory:")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"chdb front (engine {chdb.engine_version}) on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
