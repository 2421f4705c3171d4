"""The staff console driven as staff use it: a real browser (Debian's headless Chromium,
through Selenium and chromedriver) against the real server (gunicorn), logging in through
the login form and clicking through the pages. Each test saves a screenshot in
``var/screenshots/`` (``SCREENSHOT_DIR`` to change); ``docs/screenshots/`` keeps one
for the README."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from accounts.models import AccountStatus, AccountStatusChange
from banking.roles import AUDITOR, TELLER
from tests.factories import DEFAULT_PASSWORD, AccountFactory, UserFactory, staff_member
from tests.live_server import ROOT, Gunicorn
from transactions.models import Transaction
from transactions.selectors import balance_get

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))


@pytest.fixture(scope="module")
def static_files():
    """The admin's static files, collected as scripts/serve.sh collects them."""
    var = tempfile.mkdtemp(prefix="console-var-")
    env = {"BANKING_VAR_DIR": var}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env={**os.environ, "DJANGO_SETTINGS_MODULE": "banking.settings.test", **env})
    yield env
    shutil.rmtree(var, ignore_errors=True)


@pytest.fixture
def server(static_files, transactional_db):
    """gunicorn, one per test: each test's database is flushed and refilled (content
    types included), which a server's caches must not outlive."""
    running = Gunicorn(workers=1, threads=4, env=static_files).start()
    yield f"http://127.0.0.1:{running.port}"
    running.stop()


@pytest.fixture(scope="module")
def chromium():
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium, server):
    """The browser, logged out, at the server."""
    chromium.get(f"{server}/admin/login/")
    chromium.delete_all_cookies()
    chromium.base = server
    return chromium


def log_in(browser, user) -> None:
    browser.get(f"{browser.base}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys(DEFAULT_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "log out" in browser.find_element(By.ID, "logout-form").text.lower()


def open_account(browser, account) -> None:
    browser.get(f"{browser.base}/admin/accounts/account/{account.pk}/change/")


def screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # The whole page, not only the window: as tall as its content.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, max(1000, min(height, 4000)))
    browser.save_screenshot(str(path))
    browser.set_window_size(1400, 1000)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


@pytest.fixture
def manager():
    return UserFactory(username="manager", is_staff=True, is_superuser=True)


@pytest.fixture
def funded(fund):
    account = AccountFactory(user=UserFactory(username="alice"), bank_name="Savings Bank", branch="Main Branch")
    for amount in ("120.00", "35.50", "80.00"):
        fund(account, amount)
    return account


def test_dashboard_shows_the_books_and_the_charts(browser, manager, funded):
    log_in(browser, manager)
    browser.get(f"{browser.base}/admin/")
    books = browser.find_element(By.ID, "books").text
    assert "235.50" in books and "balances to zero" in books
    charts = browser.find_elements(By.CSS_SELECTOR, "#dashboard svg")
    assert len(charts) == 2 and all(chart.size["width"] > 300 for chart in charts)
    screenshot(browser, "dashboard")


def test_account_page_draws_the_balance_over_time(browser, manager, funded):
    log_in(browser, manager)
    open_account(browser, funded)
    chart = browser.find_element(By.CSS_SELECTOR, ".field-balance_chart svg")
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    assert chart.find_elements(By.TAG_NAME, "polyline")
    # The current value is printed; each point's value is in its hover text.
    assert "235.50" in chart.text
    hover = [title.get_attribute("textContent") for title in chart.find_elements(By.TAG_NAME, "title")]
    assert any("155.50" in text for text in hover)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")
    assert [row.find_element(By.TAG_NAME, "td").text for row in rows] == ["3", "2", "1"]
    screenshot(browser, "account")


def test_teller_deposits_with_a_reason_from_the_account_page(browser, funded):
    teller = staff_member(TELLER, username="tina")
    log_in(browser, teller)
    open_account(browser, funded)
    browser.find_element(By.ID, "action-movement").click()
    Select(browser.find_element(By.ID, "id_kind")).select_by_value("deposit")
    browser.find_element(By.ID, "id_amount").send_keys("64.50")
    browser.find_element(By.ID, "id_reason").send_keys("cash paid in at the counter")
    screenshot(browser, "deposit")
    browser.find_element(By.CSS_SELECTOR, "#staff-action input[type=submit]").click()
    assert "DEPOSIT of 64.50 posted" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    assert balance_get(account_id=funded.pk) == Decimal("300.00")
    entry = Transaction.objects.filter(account=funded).order_by("-seq").first()
    assert (entry.initiated_by, entry.note) == (teller, "cash paid in at the counter")
    assert "cash paid in at the counter" in browser.find_element(By.ID, "staff-actions").text


def test_manager_freezes_an_account_with_a_reason(browser, manager, funded):
    log_in(browser, manager)
    open_account(browser, funded)
    browser.find_element(By.ID, "action-status").click()
    Select(browser.find_element(By.ID, "id_action")).select_by_value("freeze")
    browser.find_element(By.ID, "id_reason").send_keys("card reported stolen")
    browser.find_element(By.CSS_SELECTOR, "#staff-action input[type=submit]").click()
    assert f"Account {funded.pk} is now FROZEN" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    assert "Frozen" in browser.find_element(By.CSS_SELECTOR, ".field-status").text
    assert "card reported stolen" in browser.find_element(By.ID, "staff-actions").text
    funded.refresh_from_db()
    assert funded.status == AccountStatus.FROZEN
    assert AccountStatusChange.objects.get(account=funded).changed_by == manager
    screenshot(browser, "freeze")


def test_auditor_reads_the_account_page_and_finds_no_action(browser, funded):
    log_in(browser, staff_member(AUDITOR, username="audrey"))
    open_account(browser, funded)
    assert "235.50" in browser.find_element(By.CSS_SELECTOR, ".field-balance").text
    assert not browser.find_elements(By.ID, "action-movement")
    assert not browser.find_elements(By.ID, "action-status")
    assert not browser.find_elements(By.CSS_SELECTOR, "#ledger a.reverse")
