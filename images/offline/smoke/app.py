"""Smoke-test program: `serve` answers HTTP on 8080; `fetch URL [ATTEMPTS]` prints the body it
gets (through cluster DNS and a Service) and exits 1 when every attempt failed; `write PATH`
writes and reads back a file on a volume. Each prints JSON lines that smoke.sh finds with
`kubectl logs`."""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.request import urlopen


def say(**fields: object) -> None:
    print(json.dumps({"uid": os.getuid(), **fields}), flush=True)


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"hello": "datastack", "uid": os.getuid()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    command = sys.argv[1]
    if command == "serve":
        say(event="serving", port=8080)
        HTTPServer(("", 8080), Hello).serve_forever()
    elif command == "fetch":
        attempts = int(sys.argv[3]) if len(sys.argv) > 3 else 60
        for _ in range(attempts):  # the Service may need a moment to get its endpoint
            try:
                with urlopen(sys.argv[2], timeout=5) as response:
                    say(event="fetched", body=json.loads(response.read()))
                    return
            except OSError as error:
                say(event="retry", error=str(error))
                time.sleep(1)
        sys.exit(1)
    elif command == "write":
        path = sys.argv[2]
        with open(path, "w") as f:
            f.write("persisted by uid %d\n" % os.getuid())
        with open(path) as f:
            say(
                event="wrote",
                path=path,
                content=f.read().strip(),
                mode=oct(os.stat(os.path.dirname(path)).st_mode),
            )
        time.sleep(3600)


if __name__ == "__main__":
    main()
