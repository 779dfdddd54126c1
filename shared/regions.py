"""Kemendagri region codes (``PP.KK.CC.DDDD``): province, kabupaten/kota, kecamatan, desa."""

from __future__ import annotations

import re

# A province (32), a kabupaten/kota (32.73), a kecamatan (32.73.02) or a desa (32.73.02.1001).
REGION_CODE = r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"
_REGION = re.compile(REGION_CODE)


def is_region_code(value: str) -> bool:
    return bool(_REGION.match(value))


def digits(code: str) -> str:
    """``32.73`` → ``3273``: the form used in AMQP routing keys (CONTRACT §6)."""
    return code.replace(".", "")


def within(code: str, region: str) -> bool:
    """True when ``code`` is ``region`` itself or lies inside it (``32.73.02`` within ``32.73``)."""
    return code == region or code.startswith(region + ".")
