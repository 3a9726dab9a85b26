"""Screenshot the portfolio page with one account opened (docs/img/portfolio.png).

    .venv/bin/python scripts/page_screenshot.py outputs/portfolio.html docs/img/portfolio.png \
        [--account A03610] [--chromium chromium]

Headless Chromium loads a copy of the page with a line of script that opens the account (by
default the first on the save list, else the first row), then takes the picture. Nothing is
fetched: the page is self-contained.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

OPEN = """<script>
window.addEventListener("load", () => {
  const want = %s;
  const rows = [...document.querySelectorAll("#accounts tbody tr")];
  const saved = D.accounts.find((a) => a.save === "new");
  const id = want || (saved && saved.id) || (rows[0] && rows[0].dataset.id);
  const row = rows.find((r) => r.dataset.id === id);
  if (row) row.click();
});
</script>"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--account", default=None)
    ap.add_argument("--chromium", default=None, help="Chromium or Chrome (default: on PATH)")
    ap.add_argument("--size", default="1280,1400")
    args = ap.parse_args()
    browser = args.chromium or next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        raise SystemExit("no Chromium on PATH: pass --chromium")
    account = "null" if args.account is None else repr(args.account).replace("'", '"')
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(args.page.read_text().replace("</body>", OPEN % account + "</body>"))
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--virtual-time-budget=5000",
                f"--window-size={args.size}",
                f"--screenshot={args.out.resolve()}",
                copy.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
