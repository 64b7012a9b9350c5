"""The text of a generated plain-PDF invoice that the test templates read (SPEC 2.6)."""

from devtools.pdfmaker import ACME_INVOICE

ACME = ACME_INVOICE.format(number="ACME-2024-0042")
