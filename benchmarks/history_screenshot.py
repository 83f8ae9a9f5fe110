"""A screenshot of the recorded performance history, as asv publishes it.

Run from the repository root (needs npm and Debian's chromium)::

    python benchmarks/history_screenshot.py

It runs ``asv publish`` on ``benchmarks/results``, serves the HTML on
localhost and saves headless Chromium's view of one benchmark's history to
``benchmarks/figures/asv_history_fit_em.png``.  asv's pages load jQuery,
flot and Bootstrap from CDNs; offline, the same versions are taken from the
npm registry (``npm pack``) and the page is pointed at those copies.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
HTML = HERE / ".asv" / "html"
VENDOR = HERE / ".asv" / "vendor"
# The CDN address in asv's index.html -> (npm package, file in its tarball).
SCRIPTS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": (
        "jquery@3.3.1", "package/dist/jquery.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": (
        "bootstrap@3.1.1", "package/dist/css/bootstrap.min.css"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": (
        "bootstrap@3.1.1", "package/dist/js/bootstrap.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": (
        "flot@0.8.3", "package/jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": (
        "flot@0.8.3", "package/jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": (
        "flot@0.8.3", "package/jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": (
        "flot@0.8.3", "package/jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": (
        "flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": (
        "blueimp-md5@2.19.0", "package/js/md5.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": (
        "stupid-table-plugin", "package/stupidtable.min.js"),
}  # fmt: skip


def vendored(package, member):
    """Local copy of ``member`` of the npm ``package``, fetched once."""
    target = VENDOR / package.replace("@", "-") / Path(member).name
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            name = subprocess.run(
                ["npm", "pack", package, "--silent"], cwd=tmp, check=True,
                capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            with tarfile.open(Path(tmp) / name) as tar:
                data = tar.extractfile(member).read()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="bench_fit.FitEM.time_fit")
    parser.add_argument(
        "--out", default=str(HERE / "figures" / "asv_history_fit_em.png")
    )
    args = parser.parse_args(argv)
    subprocess.run(["asv", "publish"], cwd=HERE, check=True)
    index = HTML / "index.html"
    page = index.read_text()
    (HTML / "vendor").mkdir(exist_ok=True)
    for url, (package, member) in SCRIPTS.items():
        local = vendored(package, member)
        shutil.copy(local, HTML / "vendor" / local.name)
        page = page.replace(url, f"vendor/{local.name}")
    # The integrity hashes are those of the CDN's (minified) files.
    index.write_text(re.sub(r' integrity="[^"]*"', "", page))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(HTML)
    )
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/#{args.benchmark}"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=1400,900", "--virtual-time-budget=20000",
                 "--hide-scrollbars", f"--screenshot={args.out}", url],
                check=True, capture_output=True,
            )  # fmt: skip
        server.shutdown()
    print(f"saved {args.out} ({url})")


if __name__ == "__main__":
    main()
