"""UBL 2.1 Invoice and CreditNote (EN 16931, Peppol BIS 3, XRechnung UBL): SPEC section 2.2.

Maps the element tree onto EN 16931's business terms, every value as written; the
rules are docproc.rules.en16931's. Each element is looked into once, through a map of its
children (`kids`): a path search per value costs three times as much, and reading is
on the hot path.
"""

from __future__ import annotations

from lxml import etree

from docproc.formats.document import (
    EInvoiceDocument,
    RawAllowanceCharge,
    RawDate,
    RawLine,
    RawTax,
)
from docproc.models import Format, Problem, Reason

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
INVOICE = f"{{{INVOICE_NS}}}Invoice"
CREDIT_NOTE = f"{{{CREDIT_NOTE_NS}}}CreditNote"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"

# cac: aggregates
SUPPLIER = _CAC + "AccountingSupplierParty"
CUSTOMER = _CAC + "AccountingCustomerParty"
PARTY = _CAC + "Party"
LEGAL_ENTITY = _CAC + "PartyLegalEntity"
PARTY_IDENTIFICATION = _CAC + "PartyIdentification"
PARTY_TAX_SCHEME = _CAC + "PartyTaxScheme"
TAX_SCHEME = _CAC + "TaxScheme"
MONETARY_TOTAL = _CAC + "LegalMonetaryTotal"
TAX_TOTAL = _CAC + "TaxTotal"
TAX_SUBTOTAL = _CAC + "TaxSubtotal"
TAX_CATEGORY = _CAC + "TaxCategory"
ALLOWANCE_CHARGE = _CAC + "AllowanceCharge"
PAYMENT_MEANS = _CAC + "PaymentMeans"
INVOICE_LINE = _CAC + "InvoiceLine"
CREDIT_NOTE_LINE = _CAC + "CreditNoteLine"
ITEM = _CAC + "Item"
CLASSIFIED_TAX_CATEGORY = _CAC + "ClassifiedTaxCategory"
PRICE = _CAC + "Price"
# cbc: values
ID = _CBC + "ID"
NAME = _CBC + "Name"
PERCENT = _CBC + "Percent"
AMOUNT = _CBC + "Amount"
COMPANY_ID = _CBC + "CompanyID"
REGISTRATION_NAME = _CBC + "RegistrationName"
TAX_AMOUNT = _CBC + "TaxAmount"
TAXABLE_AMOUNT = _CBC + "TaxableAmount"
LINE_EXTENSION_AMOUNT = _CBC + "LineExtensionAmount"
CHARGE_INDICATOR = _CBC + "ChargeIndicator"
PRICE_AMOUNT = _CBC + "PriceAmount"
INVOICED_QUANTITY = _CBC + "InvoicedQuantity"
CREDITED_QUANTITY = _CBC + "CreditedQuantity"

_Kids = dict[str, etree._Element]
_NONE: _Kids = {}


def kids(el: etree._Element | None) -> _Kids:
    """The first child of each tag (the parser keeps no comments or PIs: all are elements)."""
    if el is None:
        return _NONE
    return {child.tag: child for child in el[::-1]}


def value(el: etree._Element | None) -> str | None:
    """An element's text, stripped; None when absent or blank ('shall have' means non-blank)."""
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def read(
    root: etree._Element, fmt: Format = Format.UBL, xml: bytes | None = None
) -> EInvoiceDocument:
    """The business terms of a UBL Invoice or CreditNote; another root is unsupported."""
    credit = root.tag == CREDIT_NOTE
    if root.tag != INVOICE and not credit:
        return EInvoiceDocument.failed(
            fmt, Problem(Reason.UNSUPPORTED_FORMAT, f"{root.tag} is not a UBL invoice")
        )
    top = kids(root)
    seller = kids(top.get(SUPPLIER)).get(PARTY)
    buyer = kids(top.get(CUSTOMER)).get(PARTY)
    seller_kids, buyer_kids = kids(seller), kids(buyer)
    totals = kids(top.get(MONETARY_TOTAL))
    currency = value(top.get(_CBC + "DocumentCurrencyCode"))
    tax_total = _tax_total(root, currency)
    issue = value(top.get(_CBC + "IssueDate"))
    due = value(top.get(_CBC + "DueDate")) or _payment_due_date(root)
    line_tag, quantity_tag = (
        (CREDIT_NOTE_LINE, CREDITED_QUANTITY) if credit else (INVOICE_LINE, INVOICED_QUANTITY)
    )
    seller_vat = _tax_scheme_id(seller, vat=True)
    return EInvoiceDocument(
        format=fmt,
        syntax=Format.UBL,
        xml=xml,
        credit_note_root=credit,
        invoice_id=value(top.get(ID)),
        type_code=value(top.get(_CBC + ("CreditNoteTypeCode" if credit else "InvoiceTypeCode"))),
        profile=value(top.get(_CBC + "CustomizationID")),
        invoice_date=RawDate(issue) if issue else None,
        due_date=RawDate(due) if due else None,
        seller=value(kids(seller_kids.get(LEGAL_ENTITY)).get(REGISTRATION_NAME)),
        seller_tax_id=seller_vat,
        buyer=value(kids(buyer_kids.get(LEGAL_ENTITY)).get(REGISTRATION_NAME)),
        buyer_tax_id=_tax_scheme_id(buyer, vat=True),
        customer_id=value(kids(buyer_kids.get(PARTY_IDENTIFICATION)).get(ID)),
        issuer_key=(
            seller_vat
            or value(kids(seller_kids.get(LEGAL_ENTITY)).get(COMPANY_ID))
            or _first_party_id(seller)
            or _tax_scheme_id(seller, vat=False)
        ),
        currency=currency,
        amount=value(totals.get(LINE_EXTENSION_AMOUNT)),
        allowance_total=value(totals.get(_CBC + "AllowanceTotalAmount")),
        charge_total=value(totals.get(_CBC + "ChargeTotalAmount")),
        net_total=value(totals.get(_CBC + "TaxExclusiveAmount")),
        tax_total=value(kids(tax_total).get(TAX_AMOUNT)),
        total=value(totals.get(_CBC + "TaxInclusiveAmount")),
        prepaid=value(totals.get(_CBC + "PrepaidAmount")),
        rounding=value(totals.get(_CBC + "PayableRoundingAmount")),
        payable=value(totals.get(_CBC + "PayableAmount")),
        lines=tuple(
            _line(n, line, quantity_tag)
            for n, line in enumerate(root.iterchildren(line_tag), start=1)
        ),
        taxes=tuple(_tax(sub) for sub in tax_total.iterchildren(TAX_SUBTOTAL))
        if tax_total is not None
        else (),
        allowances_charges=tuple(
            _allowance_charge(ac) for ac in root.iterchildren(ALLOWANCE_CHARGE)
        ),
    )


def _tax_total(root: etree._Element, currency: str | None) -> etree._Element | None:
    """The cac:TaxTotal whose cbc:TaxAmount is in the document currency (BT-110), not the
    one in the VAT accounting currency (BT-111). One alone counts when it names no currency,
    or when the document names none (that is reported as BT-5 missing, not as a sum)."""
    totals = list(root.iterchildren(TAX_TOTAL))
    for total in totals:
        amount = kids(total).get(TAX_AMOUNT)
        if amount is not None and (amount.get("currencyID") or "").strip() == currency:
            return total
    if len(totals) == 1:
        amount = kids(totals[0]).get(TAX_AMOUNT)
        if amount is not None and (currency is None or not amount.get("currencyID")):
            return totals[0]
    return None


def _payment_due_date(root: etree._Element) -> str | None:
    """The first cac:PaymentMeans/cbc:PaymentDueDate (where a CreditNote keeps BT-9)."""
    for means in root.iterchildren(PAYMENT_MEANS):
        if due := value(kids(means).get(_CBC + "PaymentDueDate")):
            return due
    return None


def _first_party_id(party: etree._Element | None) -> str | None:
    """BT-29: the first non-blank cac:PartyIdentification/cbc:ID."""
    if party is None:
        return None
    for identification in party.iterchildren(PARTY_IDENTIFICATION):
        if found := value(kids(identification).get(ID)):
            return found
    return None


def _tax_scheme_id(party: etree._Element | None, *, vat: bool) -> str | None:
    """BT-31/BT-48 (the VAT scheme's CompanyID) or BT-32 (another scheme's)."""
    if party is None:
        return None
    for scheme in party.iterchildren(PARTY_TAX_SCHEME):
        parts = kids(scheme)
        is_vat = (value(kids(parts.get(TAX_SCHEME)).get(ID)) or "").upper() == "VAT"
        if is_vat is vat and (found := value(parts.get(COMPANY_ID))):
            return found
    return None


def _line(n: int, line: etree._Element, quantity_tag: str) -> RawLine:
    parts = kids(line)
    item = kids(parts.get(ITEM))
    category = kids(item.get(CLASSIFIED_TAX_CATEGORY))
    quantity = parts.get(quantity_tag)
    return RawLine(
        line_no=n,
        line_id=value(parts.get(ID)),
        description=value(item.get(NAME)),
        quantity=value(quantity),
        unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
        unit_price=value(kids(parts.get(PRICE)).get(PRICE_AMOUNT)),
        amount=value(parts.get(LINE_EXTENSION_AMOUNT)),
        tax_category=value(category.get(ID)),
        tax_rate=value(category.get(PERCENT)),
    )


def _tax(sub: etree._Element) -> RawTax:
    parts = kids(sub)
    category = kids(parts.get(TAX_CATEGORY))
    return RawTax(
        kind=value(kids(category.get(TAX_SCHEME)).get(ID)) or "VAT",
        category=value(category.get(ID)),
        rate=value(category.get(PERCENT)),
        taxable_amount=value(parts.get(TAXABLE_AMOUNT)),
        amount=value(parts.get(TAX_AMOUNT)),
    )


def _allowance_charge(ac: etree._Element) -> RawAllowanceCharge:
    parts = kids(ac)
    category = kids(parts.get(TAX_CATEGORY))
    return RawAllowanceCharge(
        charge=(value(parts.get(CHARGE_INDICATOR)) or "").lower() in ("true", "1"),
        amount=value(parts.get(AMOUNT)),
        category=value(category.get(ID)),
        rate=value(category.get(PERCENT)),
    )
