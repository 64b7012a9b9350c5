"""Shared by the unit tests: the original system's sample and variants of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

_NAME = "docproc-invoice.txt"
# The original system's sample, as the package carries it for the demo.
SAMPLE_FILE = Path(__file__).resolve().parents[2] / "docproc" / "samples" / _NAME

# The sample's text, so that variants need no file; test_parser checks it against the file.
# Tests get it through the fixtures below: importing conftest from a test module would pick
# whichever conftest.py pytest loaded last.
SAMPLE = """\
******************************************************************
                             Invoice
******************************************************************
Customer-ID: sm-LK0080145
Inv-ID: inv-00001
Dated: Mar 31 2018
From: Space Mechanics Inc.
To: Starfleet Interplanatory HQ
Amount: 7650
SGST: 500
Total: 8150
InWords: Space Rupees Eight thousand one hundred fifty only

Items
1) Matter antimatter fusion controller; 2000; 200
2) External inertial damper; 3100; 180
3) Type X phaser; 500; 35
4) 2MW Fusion reactor; 1200; 85
5) Transporter base dial; 850
"""


def make_variant(*replacements: tuple[str, str], encoding: str = "utf-8") -> bytes:
    """The sample with each (old, new) replaced; `old` must occur, so a typo fails loudly."""
    text = SAMPLE
    for old, new in replacements:
        assert old in text, f"{old!r} is not in the sample"
        text = text.replace(old, new)
    return text.encode(encoding)


@pytest.fixture
def sample_file() -> bytes:
    return SAMPLE_FILE.read_bytes()


@pytest.fixture
def sample_text() -> str:
    return SAMPLE


@pytest.fixture
def variant() -> Callable[..., bytes]:
    return make_variant
