"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, never a browser that
Playwright downloads) against pytest-django's live server, and uploaded imports go through the
configured broker to a Celery worker running in a thread of the test process.

Every test here is marked `browser`; without Chromium or the playwright package they are skipped.
A failing test leaves a screenshot of its page in test-results/<test name>.png.

The test, the live server thread and the worker thread share one test database, so these tests
are transactional (committed data, flushed afterwards). On PostgreSQL each thread has its own
connection. On SQLite the test database lives in memory with a shared cache: pytest-django hands
the live server thread the test's own connection, and the worker thread opens a second connection
to the same shared-cache database. That works (the upload test has the page poll the progress
while the worker writes the import, on SQLite and on PostgreSQL with Redis alike), so no test is
skipped on SQLite.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecomsite.celery import app as celery_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
# Playwright's default per action and per expect(); slow machines get some slack.
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@dataclass
class WorkerRecord:
    """What the in-process worker ran: the ids of the tasks it received from the broker (proof
    that they left the request), and of any task that ran eagerly instead (there should be none)."""

    task_ids: list[str] = field(default_factory=list)
    eager_task_ids: list[str] = field(default_factory=list)


# --- Celery: tasks go through the broker, not inline ------------------------------------------


@pytest.fixture(autouse=True)
def _celery_inline() -> Iterator[None]:
    """Overrides tests/conftest.py's fixture of the same name: here eager mode is off, so an
    upload only enqueues its import and the `celery_worker` fixture's thread runs it."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


def _reset_broker_pools() -> None:
    """Close and forget the pooled broker connections and producers (made by earlier tests or by
    the worker), so that the next message is sent with the current broker options. kombu keeps
    its pools in process-wide groups keyed by the broker URL: they are cleared too, or the app
    would be handed back the closed ones."""
    from kombu import pools

    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def celery_worker(transactional_db, tmp_path: Path) -> Iterator[WorkerRecord]:  # type: ignore[no-untyped-def]
    """A Celery worker (solo pool) in a thread of this process, on the configured broker: Redis
    when REDIS_URL is set, else kombu's filesystem transport moved to a temporary folder, so that
    a worker of `./run.sh` (var/celery) never takes the test's messages nor this one theirs."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun, task_prerun
    from django.db import connections

    record = WorkerRecord()

    def on_prerun(task_id: str, task: Any, **kwargs: Any) -> None:
        (record.eager_task_ids if task.request.is_eager else record.task_ids).append(task_id)

    def on_postrun(**kwargs: Any) -> None:
        # The worker thread's own connections: closed after each task so that none is left open
        # on the test database when the session drops it (PostgreSQL refuses while one is).
        connections.close_all()

    previous_options = celery_app.conf.broker_transport_options
    if celery_app.conf.broker_url.startswith("filesystem://"):
        queue, processed = tmp_path / "celery" / "queue", tmp_path / "celery" / "processed"
        queue.mkdir(parents=True)
        processed.mkdir(parents=True)
        celery_app.conf.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "store_processed": False,
            "polling_interval": 0.1,  # the default (1 s) slows the test and the shutdown
        }
    _reset_broker_pools()
    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
            yield record
    finally:
        task_prerun.disconnect(on_prerun)
        task_postrun.disconnect(on_postrun)
        celery_app.conf.CELERY_BROKER_TRANSPORT_OPTIONS = previous_options
        _reset_broker_pools()


# --- Accounts ----------------------------------------------------------------------------------


def _role_groups_create() -> None:
    from django.contrib.auth.models import Group

    from ecomsite.roles import Role

    for role in Role:
        Group.objects.get_or_create(name=role.group_name)


_DB_BLOCKER = pytest.StashKey[Any]()


@pytest.fixture(autouse=True)
def _role_groups(request: pytest.FixtureRequest, django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    """The role groups come from a data migration, and the flush that ends every transactional
    test (all of these) deletes them: made sure of before each test here, and made again after
    its flush by pytest_runtest_teardown below."""
    request.node.stash[_DB_BLOCKER] = django_db_blocker
    with django_db_blocker.unblock():
        _role_groups_create()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """After a test here and its flush (fixtures cannot be torn down after it: pytest-django's
    live server helper sets the database up first), put the role groups back, so that the tests
    that run later in the session find the database as migrated."""
    try:
        return (yield)
    finally:
        blocker = item.stash.get(_DB_BLOCKER, None)
        if blocker is not None and nextitem is not None:  # after the last test the DB is gone
            with blocker.unblock():
                _role_groups_create()


def _account(username: str, role_name: str) -> Account:
    from ecomsite.roles import Role
    from ecomsite.services.users import user_create

    account = Account(username=username, password=f"pw-{username}-browser-1")
    user_create(username=account.username, password=account.password, role=Role[role_name])
    return account


@pytest.fixture
def shop_admin(transactional_db) -> Account:  # type: ignore[no-untyped-def]
    return _account("anna-admin", "ADMIN")


@pytest.fixture
def shop_viewer(transactional_db) -> Account:  # type: ignore[no-untyped-def]
    return _account("victor-viewer", "VIEWER")


# --- The browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module. While Playwright's sync API runs, its event loop
    counts as running in this thread, so Django would refuse ORM calls from the test ("async
    context"): DJANGO_ALLOW_ASYNC_UNSAFE is set for exactly that time (the ORM is still called
    synchronously, from one thread)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -r requirements.txt)")

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser, live_server, transactional_db) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) on the live server; `page.js_errors` collects
    uncaught script errors."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda error: errors.append(str(error)))
    new_page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield new_page
    finally:
        context.close()


def _log_in(page: Page, account: Account) -> None:
    from playwright.sync_api import expect

    page.goto("/login/")
    page.locator("input[name=username]").fill(account.username)
    page.locator("input[name=password]").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))


@pytest.fixture
def log_in() -> Callable[[Page, Account], None]:
    """log_in(page, account): through the login form, as a person would; returns on the page the
    form sends them to."""
    return _log_in


# Each chart canvas: does Chart.js hold a chart for it, and how big is it drawn?
_CHART_STATE = """() => [...document.querySelectorAll("canvas[data-chart]")].map((canvas) => ({
    chart: canvas.dataset.chart,
    drawn: typeof Chart !== "undefined" && Chart.getChart(canvas) !== undefined,
    width: canvas.width,
    height: canvas.height,
}))"""
_ALL_DRAWN = f"""() => {{
    const charts = ({_CHART_STATE})();
    return charts.length > 0 && charts.every((c) => c.drawn && c.width > 0 && c.height > 0);
}}"""


def _charts_drawn(page: Page) -> list[dict[str, Any]]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(_ALL_DRAWN)
    except PlaywrightTimeoutError:
        pytest.fail(f"not every chart on {page.url} was drawn: {page.evaluate(_CHART_STATE)}")
    return page.evaluate(_CHART_STATE)  # type: ignore[no-any-return]


@pytest.fixture
def charts_drawn() -> Callable[[Page], list[dict[str, Any]]]:
    """charts_drawn(page): waits until the page has charts and Chart.js has drawn every
    `canvas[data-chart]` (a chart instance, a non-zero size), else fails saying which were not;
    returns [{chart, drawn, width, height}] per canvas."""
    return _charts_drawn


# --- A screenshot of every failure -------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        page = getattr(item, "funcargs", {}).get("page")
        if page is not None and not page.is_closed():
            RESULTS_DIR.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", item.name)
            path = RESULTS_DIR / f"{name}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception as exc:  # the browser may be what failed
                report.sections.append(("screenshot", f"none saved: {exc}"))
            else:
                report.sections.append(("screenshot", str(path)))
    return report
