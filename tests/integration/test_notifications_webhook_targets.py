"""Webhooks go only to public addresses (issue 11 point 5): checked when a recipient is added or
changed, and again on the connection itself; a failing receiver's answer is never kept."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.notifications.egress import Allowance, Egress, PinnedTransport

from shared.events import EventType
from tests.bus import tap
from tests.conftest import auth, running
from tests.notifications_support import (  # noqa: F401 - hooks is a fixture
    LOCAL_RECEIVERS,
    WebhookReceiver,
    add_recipient,
    deliveries,
    event,
    fast,
    hooks,
    partner,
    publish,
    soon,
    subscribed,
    value,
)

ADMIN = auth("admin", ["*"])

# Each is, or resolves to, an address inside the deployment or no address at all.
INSIDE = [
    "http://127.0.0.1:27017/",  # the store
    "http://localhost:15672/api/users",  # RabbitMQ's management API
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://[::1]:8101/partners",
    "http://0.0.0.0:8103/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",
    "http://127.1:5672/",
    "http://0177.0.0.1/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://10.1.2.3/",
    "http://172.16.0.9/",
    "http://192.168.1.1/admin",
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://224.0.0.251/",  # multicast
    "http://[fe80::1]/",
    "http://[fd00::1]/",
]


async def test_targets_inside_the_deployment_userinfo_and_other_schemes_are_refused_naming_webhook_url(
        settings, monkeypatch):
    fast(monkeypatch)  # the deployment allows nothing besides public addresses (the default)
    async with running("notifications", settings) as (_, client):
        system = await add_recipient(client, name="Dasbor", kind="system", webhook_url="https://dashboard.example/hook")
        refused = [*INSIDE, "http://user:secret@127.0.0.1:15672/api/", "https://admin@dashboard.example/hook",
                   "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO"]
        for url in refused:
            for response in (
                    await client.post("/recipients", headers=ADMIN,
                                      json={"name": "Sistem", "kind": "system", "webhook_url": url}),
                    await client.patch(f"/recipients/{system['id']}", headers=ADMIN, json={"webhook_url": url})):
                assert response.status_code == 422, (url, response.text)
                assert [e["field"] for e in response.json()["errors"]] == ["webhook_url"], (url, response.json())
        messages = {}
        for url in ("http://2130706433/", "http://localhost:15672/", "http://u:p@example.org/"):
            response = await client.post("/recipients", headers=ADMIN,
                                         json={"name": "Sistem", "kind": "system", "webhook_url": url})
            messages[url] = response.json()["errors"][0]["message"]
        assert messages["http://2130706433/"].startswith("127.0.0.1 is a loopback address; webhooks go only to public")
        assert messages["http://localhost:15672/"].startswith("localhost resolves to ")
        assert "user name or password" in messages["http://u:p@example.org/"]

        current = (await client.get(f"/recipients/{system['id']}", headers=ADMIN)).json()
        assert current["webhook_url"] == "https://dashboard.example/hook" and current["version"] == 1
        public = await client.post("/recipients", headers=ADMIN,
                                   json={"name": "Sistem", "kind": "system", "webhook_url": "https://93.184.216.34/x"})
        assert public.status_code == 201, public.text


async def test_a_deployment_allows_the_networks_and_hosts_it_names_and_nothing_else(settings, monkeypatch):
    fast(monkeypatch, SINERGI_NOTIFY_WEBHOOK_ALLOW="127.0.0.0/8, hooks.kpu.internal")
    async with running("notifications", settings) as (_, client):
        for url in ("http://127.0.0.1:9000/hook", "http://2130706433:9000/", "http://hooks.kpu.internal/hook"):
            created = await client.post("/recipients", headers=ADMIN,
                                        json={"name": "Internal", "kind": "system", "webhook_url": url})
            assert created.status_code == 201, (url, created.text)
        for url in ("http://[::1]/", "http://10.1.2.3/", "http://169.254.169.254/", "http://0.0.0.0/"):
            refused = await client.post("/recipients", headers=ADMIN,
                                        json={"name": "Internal", "kind": "system", "webhook_url": url})
            assert refused.status_code == 422, (url, refused.text)


async def test_a_target_allowed_when_registered_is_refused_when_sending_once_it_no_longer_is(settings, monkeypatch):
    """The check is made again on each attempt: ``localhost`` registered while the deployment
    allowed loopback, then the allowance removed: nothing reaches the receiver."""
    with WebhookReceiver() as receiver:
        fast(monkeypatch, **LOCAL_RECEIVERS)
        async with running("notifications", settings) as (_, client):
            await add_recipient(client, name="Lokal", kind="system", webhook_url=f"http://localhost:{receiver.port}/x")
        monkeypatch.delenv("SINERGI_NOTIFY_WEBHOOK_ALLOW")
        async with running("notifications", settings) as (app, client):
            await soon(lambda: subscribed(app))
            await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
            [delivery] = await soon(lambda: deliveries(client, status="dead"))
        assert delivery["attempts"] == 1  # refused, not retried: only an admin's change can help
        assert delivery["last_error"].startswith("localhost resolves to ")
        assert "a loopback address; webhooks go only to public addresses" in delivery["last_error"]
        assert receiver.hits == [] and receiver.hung == []


async def test_a_name_that_resolves_to_a_public_address_when_checked_and_to_loopback_later_gets_nowhere(
        settings, monkeypatch):
    """DNS rebinding: the name answers a public address when the recipient is added and loopback
    when the webhook is sent. The attempt resolves it once, checks what it got and connects there."""
    fast(monkeypatch)
    with WebhookReceiver() as receiver:
        async with running("notifications", settings) as (app, client):
            await soon(lambda: subscribed(app))
            answers = {"hooks.rebind.example": ["93.184.216.34"]}
            asked: list[str] = []

            async def resolve(host, port):
                asked.append(host)
                return answers[host]
            app.state.egress.resolve = resolve
            await add_recipient(client, name="Rebind", kind="system",
                                webhook_url=f"http://hooks.rebind.example:{receiver.port}/x")
            answers["hooks.rebind.example"] = ["127.0.0.1"]
            await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
            [delivery] = await soon(lambda: deliveries(client, status="dead"))
        assert delivery["last_error"].startswith("hooks.rebind.example resolves to 127.0.0.1, a loopback address")
        assert receiver.hits == [] and asked == ["hooks.rebind.example"] * 2


async def test_the_connection_goes_to_the_address_checked_with_the_targets_name_as_host(settings, hooks, monkeypatch):
    """The name is resolved once, by the check, and the connection made to that address: the
    system's resolver knows no ``hooks.kpu.internal``, yet the receiver gets the webhook, with the
    name in its Host header."""
    fast(monkeypatch)
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))

        async def resolve(host, port):
            return ["127.0.0.1"] if host == "hooks.kpu.internal" else []
        app.state.egress.resolve = resolve
        await add_recipient(client, name="Internal", kind="system",
                            webhook_url=f"http://hooks.kpu.internal:{hooks.port}/sinergi")
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        [hook] = await soon(lambda: value(hooks.to("/sinergi")))
        assert hook.headers["host"] == f"hooks.kpu.internal:{hooks.port}"


@pytest.mark.parametrize("status", [500, 404])
async def test_a_failing_receivers_answer_is_kept_nowhere_only_its_status(settings, hooks, status, monkeypatch):
    """What a receiver answers is not read: if the target were an internal service, its answer
    would otherwise be readable by operators in last_error, and in the log and events."""
    fast(monkeypatch)
    hooks.always_fail.add("/down")
    hooks.failure_status = status
    hooks.failure_body = b'{"users": [{"name": "guest", "password_hash": "INTERNAL-ANSWER"}]}'
    async with (
        tap(settings, "*.notification.*") as published,
        running("notifications", settings) as (app, client),
    ):
        await soon(lambda: subscribed(app))
        await add_recipient(client, name="Down", kind="system", webhook_url=hooks.url("/down"))
        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1")))
        [delivery] = await soon(lambda: deliveries(client, status="dead"))
        full = (await client.get(f"/deliveries/{delivery['id']}", headers=auth("operator"))).json()
        failed = await soon(lambda: value([e for e in published if e["type"] == "sinergi.notification.failed"]))
    reason = {500: "Internal Server Error", 404: "Not Found"}[status]
    assert delivery["last_error"] == f"{hooks.url('/down')} answered HTTP {status} {reason}"
    assert all(h["error"] == delivery["last_error"] for h in full["history"])
    assert "INTERNAL-ANSWER" not in str(failed) and "INTERNAL-ANSWER" not in str(full)


@pytest.fixture
def tls_receiver(tmp_path):
    """A real HTTPS receiver whose certificate names ``hooks.test``; yields (port, its CA, SNI names seen)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the receiver's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"],
                   check=True, capture_output=True)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("content-length") or 0))
            hosts.append(self.headers["host"])
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ssl.create_default_context(cafile=str(cert)), names, hosts
    server.shutdown()
    server.server_close()


async def test_https_to_the_checked_address_speaks_tls_to_the_targets_name(tls_receiver):
    """Connecting to the checked address keeps HTTPS whole: SNI, the certificate check and Host are
    the URL's name, and a pooled connection checked for one name never serves another."""
    port, authority, names, hosts = tls_receiver

    async def resolve(host, port):
        return ["127.0.0.1"]
    egress = Egress(Allowance.parse(["127.0.0.0/8"]), resolve)
    transport = PinnedTransport(egress, httpx.Limits(max_connections=4), verify=authority)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        for _ in range(2):
            assert (await client.post(f"https://hooks.test:{port}/x", content=b"{}")).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(f"https://other.test:{port}/x", content=b"{}")  # same address, another name
    assert hosts == [f"hooks.test:{port}"] * 2
    assert names == ["hooks.test", "other.test"]  # one handshake for hooks.test, its connection reused
