"""The demo registry is valid data, shaped like the seed articles."""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import count

from services.partners import domain
from services.partners.api import PartnerIn
from sinergi_cli.demo import read
from sinergi_cli.demo.partners import DEMO_PARTNERS, KECAMATAN, SUSPENDED


def test_every_demo_partner_passes_the_registry_rules():
    ids = (f"a{n}" for n in count())
    for body in DEMO_PARTNERS:
        PartnerIn.model_validate(body)  # the shape POST /partners accepts
        checked = domain.details(body, "32.73")
        domain.agreements(body["agreements"], ids)
        assert all(c.phone and c.phone.startswith("+62") for c in checked["contacts"]), body["name"]
        assert all(c.email is None or c.email.endswith(".example") for c in checked["contacts"]), body["name"]


def test_the_demo_region_looks_like_kota_bandung_in_the_seed_articles():
    assert 80 <= len(DEMO_PARTNERS) <= 90
    assert len({domain.fold(p["name"]) for p in DEMO_PARTNERS}) == len(DEMO_PARTNERS)
    types = Counter(p["type"] for p in DEMO_PARTNERS)
    assert types["opd_diskominfo"] == 1 and types["kim"] >= 10 and types["perguruan_tinggi"] >= 1
    assert types["media"] >= 5 and types["keagamaan"] >= 5 and types["sekolah"] >= 3
    categories = Counter(c for p in DEMO_PARTNERS for c in p["categories"])
    for seed in ("kepemudaan", "seni", "budaya", "pendidikan", "keagamaan"):
        assert categories[seed] >= 5, seed
    kinds = {c["kind"] for p in DEMO_PARTNERS for c in p["channels"]}
    assert {"radio", "media_online", "instagram", "whatsapp_group", "jaringan_komunitas"} <= kinds
    assert sum(len(p["agreements"]) for p in DEMO_PARTNERS) >= 20
    assert {p["district"] for p in DEMO_PARTNERS} - {None} <= set(KECAMATAN.values())
    assert len(KECAMATAN) == 30 and set(SUSPENDED) <= {p["name"] for p in DEMO_PARTNERS}


def test_the_standing_agreements_are_about_to_expire_whenever_the_demo_is_loaded():
    """So the agreement_expiring reminders (30 and 7 days before) have something to say on any day."""
    later = date(2031, 3, 1)
    until = {a["number"]: a["valid_until"] for p in read("partners", today=later)["partner"]
             for a in p.get("agreements", [])}
    assert until["012/PP.08-NK/3273/2024"] == "2031-03-26" and until["013/PP.08-NK/3273/2024"] == "2031-03-08"
    assert until["014/PP.08-NK/3273/2024"] == "2024-12-31"
