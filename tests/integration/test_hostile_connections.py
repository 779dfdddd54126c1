"""Clients at the socket, against a service run as operators run it (``python -m services.partners``,
uvicorn in front): slow and idle clients are cut off within their bound while others are served,
a process over its connection limit says so, and a retry sent the moment an answer arrives is a
replay (issue 11, points 4 and 10)."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import REGION, auth

BOUND = 1.5  # seconds, for headers and for bodies, in these tests (the defaults are 10 and 60)
SLACK = 1.5  # a loaded CI machine may take this much longer to notice and close
BOUNDS = {"SINERGI_HTTP_HEADER_SECONDS": str(BOUND), "SINERGI_HTTP_BODY_SECONDS": str(BOUND)}


async def _closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dribble: bytes,
                        limit: float) -> tuple[float, bytes]:
    """Send ``dribble`` a byte every 0.1 s until the server closes; (seconds it took, what it said)."""
    started = time.monotonic()
    answer = b""
    pending = list(dribble)
    while not reader.at_eof() and time.monotonic() - started < limit:
        if pending:
            try:
                writer.write(bytes([pending.pop(0)]))
                await writer.drain()
            except ConnectionError:
                break
        try:
            answer += await asyncio.wait_for(reader.read(65536), timeout=0.1)
        except TimeoutError:
            continue
        except ConnectionError:
            break
    assert reader.at_eof() or writer.is_closing(), f"still open after {limit} s; it said {answer[:200]!r}"
    writer.close()
    return time.monotonic() - started, answer


async def test_slow_and_idle_clients_are_cut_off_in_time_and_others_are_served_meanwhile(processes):
    partners = processes("partners", **BOUNDS)
    host, port = "127.0.0.1", partners.port
    endless_headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 600

    async with httpx.AsyncClient(base_url=partners.url, timeout=2) as others:
        async def served_meanwhile() -> list[float]:
            took = []
            for _ in range(8):
                started = time.monotonic()
                assert (await others.get("/healthz")).status_code == 200
                took.append(time.monotonic() - started)
                await asyncio.sleep(0.2)
            return took

        async def dribbling_headers() -> tuple[float, bytes]:
            return await _closed_after(*await asyncio.open_connection(host, port), endless_headers, 10)

        async def idle() -> float:
            reader, writer = await asyncio.open_connection(host, port)
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""
            writer.close()
            return time.monotonic() - started

        async def dribbling_a_next_request() -> tuple[float, bytes]:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            first = await asyncio.wait_for(reader.readuntil(b'"partners"}'), timeout=5)
            assert first.startswith(b"HTTP/1.1 200")
            return await _closed_after(reader, writer, endless_headers, 10)

        async def dribbling_a_body() -> tuple[float, bytes]:
            reader, writer = await asyncio.open_connection(host, port)
            token = auth()["Authorization"].encode()
            writer.write(b"POST /partners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: " + token + b"\r\nContent-Length: 600\r\n\r\n")
            await writer.drain()
            return await _closed_after(reader, writer, b'{"name": "' + b"a" * 590, 10)

        async def dribbling_after_a_413() -> tuple[float, bytes]:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /partners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000000\r\n\r\n")
            await writer.drain()
            refused = await asyncio.wait_for(reader.readuntil(b"}"), timeout=5)
            assert refused.startswith(b"HTTP/1.1 413"), refused
            return await _closed_after(reader, writer, b"x" * 600, 10)

        took, (headers_after, _), idle_after, (next_after, _), (body_after, body_answer), (rest_after, _) = (
            await asyncio.gather(served_meanwhile(), dribbling_headers(), idle(), dribbling_a_next_request(),
                                 dribbling_a_body(), dribbling_after_a_413()))

    assert max(took) < 1.0, took
    for after in (headers_after, idle_after, next_after, body_after, rest_after):
        assert BOUND - 0.2 <= after <= BOUND + SLACK, (headers_after, idle_after, next_after, body_after, rest_after)
    assert body_answer.startswith(b"HTTP/1.1 408"), body_answer[:300]
    assert b"application/problem+json" in body_answer and b"/problems/request-timeout" in body_answer
    async with httpx.AsyncClient(base_url=partners.url) as client:
        assert (await client.get("/partners", headers=auth("viewer"))).json()["items"] == []


async def test_over_its_connection_limit_a_process_answers_503_as_a_problem(processes):
    partners = processes("partners", SINERGI_HTTP_MAX_CONNECTIONS="3")
    held = [await asyncio.open_connection("127.0.0.1", partners.port) for _ in range(3)]
    async with httpx.AsyncClient(base_url=partners.url, timeout=5) as client:
        busy = await client.get("/healthz")
        assert busy.status_code == 503 and busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["retry-after"] == "1" and busy.json()["status"] == 503
        for _, writer in held:
            writer.close()
            await writer.wait_closed()

        async def served() -> bool:
            return (await client.get("/healthz")).status_code == 200

        deadline = time.monotonic() + 5
        while not await served():
            assert time.monotonic() < deadline, "still 503 after the held connections were closed"
            await asyncio.sleep(0.1)


async def test_a_retry_sent_the_moment_the_answer_arrives_gets_the_same_answer(processes):
    partners = processes("partners")
    token = auth()["Authorization"].encode()
    for n in range(10):
        body = b'{"name": "KIM Cepat %d", "type": "kim", "region": "%s"}' % (n, REGION.encode())
        request = (b"POST /partners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Authorization: " + token + b"\r\nIdempotency-Key: at-once-%d\r\n" % n +
                   b"Content-Length: %d\r\n\r\n" % len(body) + body)
        reader, writer = await asyncio.open_connection("127.0.0.1", partners.port)
        # Pipelined: the retry is there to be read the moment the first answer has gone out.
        writer.write(request + request)
        await writer.drain()
        answers = [await _answer(reader), await _answer(reader)]
        writer.close()
        assert [status for status, _, _ in answers] == [201, 201], (n, answers)
        assert answers[1][2] == answers[0][2] and b"idempotent-replayed: true" in answers[1][1], (n, answers)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """One HTTP/1.1 answer off the socket: status, head (lower case), body."""
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)).lower()
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
    if b"content-length" in fields:
        body = await reader.readexactly(int(fields[b"content-length"]))
    else:  # chunked
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    return int(head.split(b" ")[1]), head, body


async def test_a_body_over_the_limit_is_answered_413_over_a_real_socket(processes):
    partners = processes("partners")

    async def two_megabytes():
        for _ in range(32):
            yield b"x" * (64 << 10)

    async with httpx.AsyncClient(base_url=partners.url, timeout=10) as client:
        for headers in ({}, {"Idempotency-Key": "too-large"}):
            declared = await client.post("/partners", content=b"x" * (2 << 20),
                                         headers={**auth(), **headers, "Content-Type": "application/json"})
            chunked = await client.post("/partners", content=two_megabytes(),
                                        headers={**auth(), **headers, "Content-Type": "application/json"})
            for response in (declared, chunked):
                assert response.status_code == 413, response.text
                assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/partners", headers=auth("viewer"))).json()["items"] == []


async def test_an_idle_connection_outlives_the_keep_alive_of_common_clients(processes):
    """httpx keeps an idle connection for 5 s, and the services closed one after 5 s too: a request
    sent just as the server's timer fired, on a busy loop, met a closed connection (``ReadError``;
    bench/load.py, 50 clients: 6 in 8,444 requests, none in 8,316 once the server kept it 20 s).
    A connection left idle past a client's 5 s is still served."""
    partners = processes("partners")
    reader, writer = await asyncio.open_connection("127.0.0.1", partners.port)
    try:
        for pause in (0, 6):
            await asyncio.sleep(pause)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            status, _, _ = await _answer(reader)
            assert status == 200, f"after {pause} s idle"
    finally:
        writer.close()
