"""Screenshots of every page of a built book at a given width (headless Chromium), and the width of each table
against the content column, as a reader at that width meets them.

Usage: ``python tools/screenshots.py _build/html OUT_DIR [--width 1280 --height 2200]``; prints one line per page:
``page  content=<px>  tables=<px,...>  overflow=<n>``; writes ``OUT_DIR/<page>.jpg``. Needs ``chromium``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--hide-scrollbars"]
MEASURE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const main = document.querySelector('article') || document.querySelector('main');
  const style = getComputedStyle(main);
  const inner = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const tables = [...document.querySelectorAll('article table')].map(t => t.scrollWidth);
  document.body.setAttribute('data-widths', JSON.stringify({content: Math.round(inner), tables: tables}));
}, 500));</script></body>"""


def pages(html: Path) -> list[Path]:
    """The book's pages in reading order: the introduction, the text chapters, the executed notebooks."""
    return [*sorted((html / "book").glob("*.html")),  # index.html only redirects to the introduction
            *sorted((html / "book" / "executed").glob("*.html"))]


def chromium(*args: str, profile: str) -> str:
    return subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120).stdout


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("html", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=2200)
    args = p.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    with tempfile.TemporaryDirectory() as profile:
        for page in pages(args.html.resolve()):
            name = page.stem if page.parent.name != "executed" else f"executed-{page.stem}"
            png = args.out / f"{name}.png"
            chromium(f"--window-size={args.width},{args.height}", f"--screenshot={png}", page.as_uri(), profile=profile)
            Image.open(png).convert("RGB").save(png.with_suffix(".jpg"), quality=45, optimize=True)
            png.unlink()
            probe = page.with_name(page.stem + ".measure.html")
            probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE, 1), encoding="utf-8")
            try:
                dom = chromium(f"--window-size={args.width},{args.height}", "--dump-dom", probe.as_uri(),
                               profile=profile)
            finally:
                probe.unlink()
            found = re.search(r'data-widths="([^"]*)"', dom)
            widths = json.loads(found.group(1).replace("&quot;", '"')) if found else {"content": None, "tables": []}
            over = sum(w > widths["content"] for w in widths["tables"]) if widths["content"] else "?"
            print(f"{name:28} content={widths['content']}  tables={widths['tables']}  overflow={over}", flush=True)


if __name__ == "__main__":
    main()
