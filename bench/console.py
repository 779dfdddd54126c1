"""Benchmark of the console: each page of the demo region, p50/p95 over repeated loads, and the
bytes of a first page load (the login page and its assets, then the Beranda after signing in).

Manual, not part of the test suite. Against `make up` (the demo region loaded, the first admin's
password printed by `sinergi up`)::

    .venv/bin/python bench/console.py --email admin@sinergi.example --password '...'

Each page is fetched ``--rounds`` times one after another by one signed-in browser-like client
(cookies, gzip); the target is p95 < 300 ms per page and a first load < 200 KB on the wire.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.serve import APPS  # noqa: E402

PAGES = ("/", "/mitra", "/mitra?type=kim", "/kegiatan", "/kegiatan?view=week", "/kegiatan?view=month",
         "/kegiatan/baru", "/notifikasi", "/pengaturan", "/pengaturan/penerima")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ASSETS = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def wire_bytes(response: httpx.Response) -> int:
    """What came over the connection: the (compressed) body and the headers."""
    headers = sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    body = response.headers.get("content-length")  # of the encoded body, as sent
    return (int(body) if body else len(response.content)) + headers


def first_load(client: httpx.Client, path: str) -> tuple[int, httpx.Response]:
    page = client.get(path, follow_redirects=True)
    total = wire_bytes(page)
    for asset in sorted(set(ASSETS.findall(page.text))):
        total += wire_bytes(client.get(asset))
    return total, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{APPS['console']}")
    parser.add_argument("--email", default="admin@sinergi.example")
    parser.add_argument("--password", required=True)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    with httpx.Client(base_url=args.url, headers={"Accept-Encoding": "gzip"}, timeout=30) as client:
        login_bytes, login_page = first_load(client, "/masuk")
        signed = client.post("/masuk", data={"csrf": CSRF.search(login_page.text).group(1), "email": args.email,
                                             "password": args.password, "next": "/"})
        if signed.status_code != 303:
            raise SystemExit(f"sign-in refused ({signed.status_code}); check --email and --password")
        home = client.get("/")
        home_bytes = wire_bytes(home)  # its assets are cached from the login page
        print(f"first load: login page + assets {login_bytes / 1024:.1f} KB, then Beranda {home_bytes / 1024:.1f} KB "
              f"= {(login_bytes + home_bytes) / 1024:.1f} KB (target < 200 KB)")
        print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>6}")
        worst = 0.0
        for path in PAGES:
            times, size = [], 0
            for _ in range(args.rounds):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                size = wire_bytes(response)
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            worst = max(worst, p95)
            print(f"{path:28} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f} {size / 1024:6.1f}")
        print(f"worst p95 {worst:.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
