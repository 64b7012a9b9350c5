"""The text of a generated plain-PDF invoice that the test templates read (SPEC 2.6)."""

ACME = """\
ACME Tools GmbH                                   Rechnung / Invoice
Werkzeugstrasse 1, 10115 Berlin                   VAT ID: DE 123 456 789

Bill to: Globex Corporation
Invoice number: ACME-2024-0042
Date: 2024-03-05
Due: 2024-04-04

Description                     Qty      Price     Amount
Hammer, steel                     2      12.50      25.00
Screwdriver set                   1      40.00      40.00
Workbench                         1     120.00     120.00

Net:       185.00
VAT:        35.15
Total:     220.15 EUR
"""
