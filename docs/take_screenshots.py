"""Screenshots of a running ecomsite for the docs, taken with Playwright and Debian's Chromium.

Logs in through the login form at 1280x900 and saves full-page PNGs in docs/screenshots/:
dashboard.png, imports.png (the imports list), import-detail.png (the newest import's report) and
customer.png (customer 17850, or the first customer of the list when there is no 17850) and
customer-scores.png (its predictive scores' section), predictions.png, segments.png,
segment-detail.png (the first segment listed), segment-builder.png,
data-quality.png (the newest cleaning run's report), pipeline.png, campaign-list.png,
campaign-builder.png (the audience step of the newest draft campaign with its live preview; a
draft is created through the builder when there is none: the user needs the editor role) and
campaign-detail.png (the newest launched campaign: recipients, results, audit log).

    ./run.sh                                    # in another terminal: the demo on port 8000
    .venv/bin/python docs/take_screenshots.py   # admin, password from var/admin-password.txt
    .venv/bin/python docs/take_screenshots.py http://127.0.0.1:8123/ --username anna --password …

Needs /usr/bin/chromium (apt-get install chromium) and the playwright package from
requirements.txt; it never runs `playwright install` (no browser is downloaded).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
CUSTOMER = "17850"
TIMEOUT_MS = 30_000
# Chart.js animates a new chart for about a second; the screenshot waits for it to settle.
CHART_SETTLE_MS = 1_200
CHARTS_DRAWN = """() => [...document.querySelectorAll("canvas[data-chart]")].every(
    (canvas) => typeof Chart !== "undefined" && Chart.getChart(canvas) !== undefined
        && canvas.width > 0 && canvas.height > 0)"""


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def default_password() -> str | None:
    """var/admin-password.txt as ./run.sh's setup_demo wrote it (ECOMSITE_VAR_DIR moves var/)."""
    var_dir = Path(os.environ.get("ECOMSITE_VAR_DIR", str(ROOT / "var")))
    path = var_dir / "admin-password.txt"
    return path.read_text().strip() if path.exists() else None


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if "/login/" in page.url:
        raise SystemExit(f"Could not log in as {username!r}: check the username and password.")


def shoot(page: Page, path: Path) -> None:
    """A full-page PNG once the page and its charts are drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.wait_for_load_state("load")
    if page.locator("canvas[data-chart]").count():
        try:
            page.wait_for_function(CHARTS_DRAWN, timeout=15_000)
        except PlaywrightTimeoutError:  # still worth a picture; say so
            say(f"    warning: not every chart on {page.url} was drawn")
        page.wait_for_timeout(CHART_SETTLE_MS)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    say(f"    {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  ({page.url})")


def first_link(page: Page, selector: str) -> str | None:
    links = page.locator(selector)
    return links.first.get_attribute("href") if links.count() else None


def take(base_url: str, username: str, password: str, out: Path) -> list[str]:
    """Takes the screenshots; returns the names of those it could not take."""
    from playwright.sync_api import sync_playwright

    missing = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(base_url=base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            log_in(page, username, password)

            page.goto("./")
            shoot(page, out / "dashboard.png")

            page.goto("imports/")
            shoot(page, out / "imports.png")
            # The list is newest first: the first link into an import is the newest one.
            newest = first_link(page, "main table tbody a[href*='/imports/']")
            if newest:
                page.goto(newest)
                shoot(page, out / "import-detail.png")
            else:
                say("    no import yet: import-detail.png not taken")
                missing.append("import-detail.png")

            response = page.goto(f"customers/{CUSTOMER}/")
            if response is None or response.status == 404:
                page.goto("customers/")
                customer = first_link(page, "main table tbody a[href*='/customers/']")
                if customer:
                    page.goto(customer)
            if "/customers/" in page.url and page.url.rstrip("/").split("/")[-1] != "customers":
                shoot(page, out / "customer.png")
                scores = page.locator("section.customer-scores")
                if scores.count():
                    scores.screenshot(path=str(out / "customer-scores.png"))
                    say(f"    {out / 'customer-scores.png'}  (its scores)")
                else:
                    missing.append("customer-scores.png")
            else:
                say("    no customer yet: customer.png not taken")
                missing.append("customer.png")

            page.goto("predictions/")
            shoot(page, out / "predictions.png")
            page.goto("segments/")
            shoot(page, out / "segments.png")
            segment = first_link(page, "main table tbody a[href*='/segments/']")
            if segment:
                page.goto(segment)
                shoot(page, out / "segment-detail.png")
            else:
                say("    no segment yet (run the pipeline): segment-detail.png not taken")
                missing.append("segment-detail.png")
            page.goto("segments/new/")
            shoot(page, out / "segment-builder.png")
            page.goto("data-quality/")
            report = first_link(page, "main table tbody a[href*='/data-quality/']")
            if report:
                page.goto(report)
                shoot(page, out / "data-quality.png")
            else:
                say("    no cleaning run yet: data-quality.png not taken")
                missing.append("data-quality.png")
            page.goto("pipeline/")
            shoot(page, out / "pipeline.png")
            missing += campaigns(page, out)
        finally:
            browser.close()
    return missing


def campaigns(page: Page, out: Path) -> list[str]:
    """The campaign list, the builder with its preview, a launched campaign's page."""
    missing = []
    page.goto("campaigns/")
    shoot(page, out / "campaign-list.png")
    launched = first_link(
        page,
        "tr:has(.status-running) a[href*='/campaigns/'], "
        "tr:has(.status-completed) a[href*='/campaigns/']",
    )
    draft = first_link(page, "tr:has(.status-draft) a[href*='/campaigns/']")
    if draft is None and page.get_by_role("link", name="New campaign").count():
        draft = new_draft(page)
    if draft:
        page.goto(draft.rstrip("/") + "/audience/")
        try:
            page.locator("#preview-steps").wait_for(timeout=60_000)
        except Exception:  # still worth a picture; say so
            say("    warning: the builder's preview did not show")
        shoot(page, out / "campaign-builder.png")
    else:
        say("    no draft campaign and no editor role: campaign-builder.png not taken")
        missing.append("campaign-builder.png")
    if launched:
        page.goto(launched)
        shoot(page, out / "campaign-detail.png")
    else:
        say("    no launched campaign yet: campaign-detail.png not taken")
        missing.append("campaign-detail.png")
    return missing


def new_draft(page: Page) -> str | None:
    """A draft through the builder's first two steps: the two largest RFM segments listed."""
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Win back customers at risk")
    page.get_by_label("Goal").fill("Bring lapsing customers back with their own recommendations")
    page.get_by_role("button", name="Save and continue").click()
    boxes = page.locator("fieldset[data-source=segments] input[type=checkbox]")
    if not boxes.count():
        return None
    for name in ("At risk", "Hibernating", "About to sleep"):
        box = page.locator("fieldset[data-source=segments] label", has_text=f"{name} (RFM)")
        if box.count():
            box.first.locator("input").check()
    if not page.locator("fieldset[data-source=segments] input:checked").count():
        boxes.first.check()
    page.get_by_role("button", name="Save and close").click()
    say(f"    created a draft campaign for the builder's picture ({page.url})")
    return page.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Full-page screenshots of a running ecomsite into docs/screenshots/."
    )
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000/")
    parser.add_argument("--username", default="admin")
    parser.add_argument(
        "--password", help="default: the contents of var/admin-password.txt (./run.sh writes it)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)

    password = args.password or default_password()
    if not password:
        parser.error("no --password and no var/admin-password.txt (run ./run.sh once)")
    if not CHROMIUM.exists():
        parser.error(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        parser.error("the playwright package is missing: pip install -r requirements.txt")

    base_url = args.base_url if args.base_url.endswith("/") else args.base_url + "/"
    say(f"==> Screenshots of {base_url} as {args.username!r}")
    missing = take(base_url, args.username, password, args.out.resolve())
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
