"""The console in a real browser: Debian's Chromium driven by Playwright, against the four
deployables as processes. What a person does: sign in, register a partner, plan → schedule → hold
→ report an activity, see the notification arrive; and what they must not: an operator on an
admin page, a POST without the CSRF token. Phone-sized, accessible (axe-core), light.

Screenshots for docs/console.md: ``SINERGI_SCREENSHOTS=docs/console pytest -m browser``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.console.handlers import CONSOLE
from shared.settings import Settings
from sinergi_cli.local import chromium_path
from tests.conftest import ROOT, ServiceProcess, free_port, make_settings, service_env
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.browser
AXE = ROOT / "services" / "console" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = os.environ.get("SINERGI_SCREENSHOTS")
ZONE = ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def stack(servers, run_id: str, tmp_path_factory) -> Iterator[dict[str, str]]:
    """partners, activities, notifications and the console as processes; users made in the console's database."""
    settings = make_settings(servers, f"{run_id}browser")
    logs = tmp_path_factory.mktemp("browser")
    started: list[ServiceProcess] = []
    urls: dict[str, str] = {}
    try:
        for name in ("partners", "activities", "notifications", "console"):
            port = free_port()
            extra = {f"SINERGI_CONSOLE_{n.upper()}_URL": u for n, u in urls.items()}
            proc = ServiceProcess(name, service_env(settings, SINERGI_PORT=str(port), **extra), port,
                                  logs / f"{name}.log")
            proc.start()
            started.append(proc)
            urls[name] = proc.url
        # In a thread of its own: this fixture runs while the tests' event loop is running.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _users(settings, urls)).result()
        yield urls
    finally:
        for proc in reversed(started):
            proc.stop()


async def _users(settings: Settings, urls: dict[str, str]) -> None:
    from services.console.backend import Services
    from services.console.handlers import Accounts
    from services.console.store import Invitations, LoginFailures, Sessions, Users
    from shared.mongo import connect

    client = connect(settings, "console")
    db = client[settings.database_name("console")]
    services = Services({n: urls[n] for n in ("partners", "activities", "notifications")}, settings.auth_secret or "",
                        settings.region, 120)
    accounts = Accounts(Users(db), Sessions(db), Invitations(db), LoginFailures(db), services, settings.region)
    await accounts.add(CONSOLE, "kepala@kpu.example", "Kepala Divisi", "admin", None, PASSWORD)
    await accounts.add(CONSOLE, "sari@kpu.example", "Sari Wulandari", "operator", None, PASSWORD)
    await services.close()
    await client.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    if chromium_path() is None:
        pytest.fail("Debian's chromium is not installed: `sinergi infra console` installs it", pytrace=False)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield found
        await found.close()


async def _page(browser, stack, width: int = 1024, height: int = 800):  # noqa: ANN001, ANN202
    context = await browser.new_context(base_url=stack["console"], viewport={"width": width, "height": height},
                                  locale="id-ID")
    return await context.new_page()


async def _sign_in(page, email: str) -> None:  # noqa: ANN001
    await page.goto("/")
    await page.get_by_label("Surel").fill(email)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.get_by_role("button", name="Masuk").click()
    await page.wait_for_url(re.compile(r"/$"))


async def _shot(page, name: str) -> None:  # noqa: ANN001
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


async def test_a_member_of_staff_registers_a_partner_and_reports_an_activity(browser, stack):  # noqa: ANN001
    from playwright.async_api import expect

    page = await _page(browser, stack)
    await page.goto("/")
    await _shot(page, "masuk")
    await _sign_in(page, "sari@kpu.example")
    await expect(page.get_by_text("Sari Wulandari")).to_be_visible()

    await page.get_by_role("link", name="Mitra").first.click()
    await page.get_by_role("link", name="Daftarkan mitra").click()
    await page.get_by_label("Nama *").fill("KIM Cibeunying Kidul")
    await page.get_by_label("Jenis *").select_option("kim")
    await page.get_by_label("Segmen").select_option(["pemilih_pemula", "perempuan"])
    await _shot(page, "mitra-baru")
    await page.get_by_role("button", name="Simpan").click()
    await expect(page.get_by_role("heading", name="KIM Cibeunying Kidul")).to_be_visible()
    await _shot(page, "mitra")

    await page.get_by_role("link", name="Kegiatan").first.click()
    await page.get_by_role("link", name="Rencanakan kegiatan").click()
    await page.get_by_label("Judul *").fill("Sosialisasi pemilih pemula SMAN 3")
    await page.get_by_label("Pemilihan *").select_option("pilkada-2024")
    await page.get_by_label("Bentuk *").select_option("tatap_muka")
    await page.get_by_label("Segmen").select_option(["pemilih_pemula"])
    await page.get_by_role("button", name="Simpan").click()
    await expect(page.locator("#status")).to_have_text("Direncanakan")

    start = datetime.now(ZONE) - timedelta(hours=3)
    await page.get_by_label(re.compile("^Mulai")).fill(start.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label(re.compile("^Selesai")).fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Jadwalkan").click()
    await expect(page.locator("#status")).to_have_text("Dijadwalkan")
    await page.get_by_role("button", name="Tandai terlaksana").click()
    await expect(page.locator("#status")).to_have_text("Terlaksana")
    await page.get_by_label("Jumlah peserta *").fill("85")
    await page.get_by_label("Perempuan").fill("40")
    await _shot(page, "kegiatan-laporan")
    await page.get_by_role("button", name="Laporkan hasil").click()
    await expect(page.locator("#status")).to_have_text("Dilaporkan")
    await _shot(page, "kegiatan")

    # The partner's registration reaches Sari's own inbox; the badge updates by itself (htmx).
    await expect(page.locator("#badge")).to_have_text(re.compile(r"^\d+"), timeout=30_000)
    await page.get_by_role("link", name=re.compile("^Notifikasi")).click()
    await expect(page.get_by_text("KIM Cibeunying Kidul").first).to_be_visible()
    await _shot(page, "notifikasi")
    await page.get_by_role("button", name="Tandai semua dibaca").click()
    await expect(page.locator("#badge")).to_have_text("")
    await page.goto("/")
    await _shot(page, "beranda")


async def test_an_operator_is_refused_an_admin_page_and_an_admin_sees_it(browser, stack):  # noqa: ANN001
    page = await _page(browser, stack)
    await _sign_in(page, "sari@kpu.example")
    assert (await page.goto("/pengaturan")).status == 403
    admin = await _page(browser, stack)
    await _sign_in(admin, "kepala@kpu.example")
    assert (await admin.goto("/pengaturan")).status == 200
    await _shot(admin, "pengaturan")


async def test_a_post_without_the_csrf_token_is_refused(browser, stack):  # noqa: ANN001
    page = await _page(browser, stack)
    await _sign_in(page, "sari@kpu.example")
    # The session cookie goes along (same browser context); the form's token does not.
    answer = await page.request.post("/mitra/baru", form={"name": "KIM Tanpa Token", "type": "kim"})
    assert answer.status == 403
    assert (await page.goto("/mitra?q=Tanpa+Token")).status == 200
    assert await page.get_by_text("KIM Tanpa Token").count() == 0


async def test_an_admin_discards_a_dead_letter_with_a_reason(browser, stack, servers, run_id):  # noqa: ANN001
    from playwright.async_api import expect

    from sinergi_cli.ops.topology import topology
    from tests.integration.test_dead_letters_http import _park_undecodable

    settings = make_settings(servers, f"{run_id}browser")
    queue = topology(settings)["notifications"].queues[0]
    junk = f"junk-{run_id}-browser"
    await _park_undecodable(settings, queue, junk)
    page = await _page(browser, stack)
    await _sign_in(page, "kepala@kpu.example")
    await page.goto("/pengaturan/antrean")
    row = page.locator("tr", has_text=junk)
    await expect(row).to_contain_text("PoisonMessage")
    await _shot(page, "antrean-gagal")
    await row.get_by_role("button", name="Buang").click()
    await page.get_by_label("Alasan").fill("pesan rusak dari uji coba")
    await page.get_by_role("button", name="Ya, buang").click()
    await expect(page.get_by_role("status")).to_contain_text("Dibuang: 1")
    await expect(page.locator("tr", has_text=junk)).to_have_count(0)


PAGES = ("/", "/mitra", "/mitra/baru", "/kegiatan", "/kegiatan?view=week", "/kegiatan/baru", "/notifikasi")


async def test_every_page_fits_a_phone_360_px_wide(browser, stack):  # noqa: ANN001
    page = await _page(browser, stack, 360, 740)
    await _sign_in(page, "sari@kpu.example")
    for path in PAGES:
        await page.goto(path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide at 360"
    await page.goto("/kegiatan")
    await _shot(page, "ponsel-kegiatan")


async def test_the_pages_pass_an_accessibility_check(browser, stack):  # noqa: ANN001
    page = await _page(browser, stack)
    await page.goto("/masuk")
    found = {"/masuk": await _axe(page)}
    await _sign_in(page, "kepala@kpu.example")
    for path in (*PAGES, "/pengaturan", "/pengaturan/target", "/pengaturan/penerima", "/pengaturan/pengiriman",
                 "/pengaturan/antrean"):
        await page.goto(path)
        found[path] = await _axe(page)
    problems = {path: v for path, v in found.items() if v}
    assert not problems, problems


async def _axe(page) -> list[str]:  # noqa: ANN001
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice']}});
        return r.violations.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`);
    }""")
    return result


async def test_the_first_page_load_is_under_200_kb(browser, stack):  # noqa: ANN001
    page = await _page(browser, stack)
    sizes: list[int] = []

    async def measured(request) -> None:  # noqa: ANN001
        found = await request.sizes()
        sizes.append(found["responseBodySize"] + found["responseHeadersSize"])

    page.on("requestfinished", measured)
    await page.goto("/", wait_until="networkidle")
    await _sign_in(page, "sari@kpu.example")
    await page.wait_for_load_state("networkidle")
    assert 0 < sum(sizes) < 200_000, sizes
