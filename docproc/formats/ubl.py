"""UBL 2.1 Invoice and CreditNote (EN 16931, Peppol BIS 3, XRechnung UBL): SPEC section 2.2.

Maps the element tree onto EN 16931's business terms, every value as written; the
rules are docproc.en16931's.
"""

from __future__ import annotations

from lxml import etree

from docproc.en16931 import (
    EInvoiceDocument,
    RawAllowanceCharge,
    RawDate,
    RawLine,
    RawTax,
)
from docproc.models import Format, Problem, Reason

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
INVOICE = f"{{{INVOICE_NS}}}Invoice"
CREDIT_NOTE = f"{{{CREDIT_NOTE_NS}}}CreditNote"


def _p(path: str) -> str:
    """`cac:A/cbc:B` in Clark notation, which ElementPath resolves without a prefix map."""
    return path.replace("cac:", _CAC).replace("cbc:", _CBC)


_SELLER = _p("cac:AccountingSupplierParty/cac:Party")
_BUYER = _p("cac:AccountingCustomerParty/cac:Party")
_TOTALS = _p("cac:LegalMonetaryTotal")
_REGISTRATION_NAME = _p("cac:PartyLegalEntity/cbc:RegistrationName")
_LEGAL_ID = _p("cac:PartyLegalEntity/cbc:CompanyID")
_PARTY_ID = _p("cac:PartyIdentification/cbc:ID")
_PARTY_TAX_SCHEME = _p("cac:PartyTaxScheme")
_COMPANY_ID = _p("cbc:CompanyID")
_SCHEME_ID = _p("cac:TaxScheme/cbc:ID")
_ID = _p("cbc:ID")
_PERCENT = _p("cbc:Percent")
_AMOUNT = _p("cbc:Amount")
_TAX_CATEGORY = _p("cac:TaxCategory")
_LINE_EXTENSION = _p("cbc:LineExtensionAmount")
_ITEM_NAME = _p("cac:Item/cbc:Name")
_ITEM_TAX = _p("cac:Item/cac:ClassifiedTaxCategory")
_PRICE = _p("cac:Price/cbc:PriceAmount")


def text(el: etree._Element | None, path: str) -> str | None:
    """The stripped text at `path`, or None when absent or blank (BR-xx: 'shall have')."""
    if el is None:
        return None
    value = el.findtext(path)
    if value is None:
        return None
    value = value.strip()
    return value or None


def read(root: etree._Element, fmt: Format = Format.UBL) -> EInvoiceDocument:
    """The business terms of a UBL Invoice or CreditNote; another root is unsupported."""
    credit = root.tag == CREDIT_NOTE
    if root.tag != INVOICE and not credit:
        return EInvoiceDocument.failed(
            fmt, Problem(Reason.UNSUPPORTED_FORMAT, f"{root.tag} is not a UBL invoice")
        )
    seller = root.find(_SELLER)
    buyer = root.find(_BUYER)
    totals = root.find(_TOTALS)
    currency = text(root, _p("cbc:DocumentCurrencyCode"))
    tax_total = _tax_total(root, currency)
    due = text(root, _p("cbc:DueDate")) or text(root, _p("cac:PaymentMeans/cbc:PaymentDueDate"))
    issue = text(root, _p("cbc:IssueDate"))
    line_tag, quantity_tag = (
        (_p("cac:CreditNoteLine"), _p("cbc:CreditedQuantity"))
        if credit
        else (_p("cac:InvoiceLine"), _p("cbc:InvoicedQuantity"))
    )
    seller_vat = _tax_scheme_id(seller, vat=True)
    return EInvoiceDocument(
        format=fmt,
        syntax=Format.UBL,
        credit_note_root=credit,
        invoice_id=text(root, _ID),
        type_code=text(root, _p("cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode")),
        profile=text(root, _p("cbc:CustomizationID")),
        invoice_date=RawDate(issue) if issue else None,
        due_date=RawDate(due) if due else None,
        seller=text(seller, _REGISTRATION_NAME),
        seller_tax_id=seller_vat,
        buyer=text(buyer, _REGISTRATION_NAME),
        buyer_tax_id=_tax_scheme_id(buyer, vat=True),
        customer_id=text(buyer, _PARTY_ID),
        issuer_key=(
            seller_vat
            or text(seller, _LEGAL_ID)
            or text(seller, _PARTY_ID)
            or _tax_scheme_id(seller, vat=False)
        ),
        currency=currency,
        tax_total=text(tax_total, _p("cbc:TaxAmount")),
        amount=text(totals, _LINE_EXTENSION),
        allowance_total=text(totals, _p("cbc:AllowanceTotalAmount")),
        charge_total=text(totals, _p("cbc:ChargeTotalAmount")),
        net_total=text(totals, _p("cbc:TaxExclusiveAmount")),
        total=text(totals, _p("cbc:TaxInclusiveAmount")),
        prepaid=text(totals, _p("cbc:PrepaidAmount")),
        rounding=text(totals, _p("cbc:PayableRoundingAmount")),
        payable=text(totals, _p("cbc:PayableAmount")),
        lines=tuple(
            _line(n, line, quantity_tag) for n, line in enumerate(root.iterfind(line_tag), 1)
        ),
        taxes=tuple(_tax(sub) for sub in tax_total.iterfind(_p("cac:TaxSubtotal")))
        if tax_total is not None
        else (),
        allowances_charges=tuple(
            _allowance_charge(ac) for ac in root.iterfind(_p("cac:AllowanceCharge"))
        ),
    )


def _tax_total(root: etree._Element, currency: str | None) -> etree._Element | None:
    """The cac:TaxTotal whose cbc:TaxAmount is in the document currency (BT-110), not the
    one in the VAT accounting currency (BT-111). One alone counts when it names no currency,
    or when the document names none (that is reported as BT-5 missing, not as a sum)."""
    totals = root.findall(_p("cac:TaxTotal"))
    for total in totals:
        amount = total.find(_p("cbc:TaxAmount"))
        if amount is not None and (amount.get("currencyID") or "").strip() == currency:
            return total
    if len(totals) == 1:
        amount = totals[0].find(_p("cbc:TaxAmount"))
        if amount is not None and (currency is None or not amount.get("currencyID")):
            return totals[0]
    return None


def _tax_scheme_id(party: etree._Element | None, *, vat: bool) -> str | None:
    """BT-31/BT-48 (the VAT scheme's CompanyID) or BT-32 (another scheme's)."""
    if party is None:
        return None
    for scheme in party.iterfind(_PARTY_TAX_SCHEME):
        is_vat = (text(scheme, _SCHEME_ID) or "").upper() == "VAT"
        if is_vat is vat and (value := text(scheme, _COMPANY_ID)):
            return value
    return None


def _line(n: int, line: etree._Element, quantity_tag: str) -> RawLine:
    quantity = line.find(quantity_tag)
    category = line.find(_ITEM_TAX)
    return RawLine(
        line_no=n,
        line_id=text(line, _ID),
        description=text(line, _ITEM_NAME),
        quantity=_stripped(quantity),
        unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
        unit_price=text(line, _PRICE),
        amount=text(line, _LINE_EXTENSION),
        tax_category=text(category, _ID),
        tax_rate=text(category, _PERCENT),
    )


def _tax(sub: etree._Element) -> RawTax:
    category = sub.find(_TAX_CATEGORY)
    return RawTax(
        kind=text(category, _SCHEME_ID) or "VAT",
        category=text(category, _ID),
        rate=text(category, _PERCENT),
        taxable_amount=text(sub, _p("cbc:TaxableAmount")),
        amount=text(sub, _p("cbc:TaxAmount")),
    )


def _allowance_charge(ac: etree._Element) -> RawAllowanceCharge:
    category = ac.find(_TAX_CATEGORY)
    return RawAllowanceCharge(
        charge=(text(ac, _p("cbc:ChargeIndicator")) or "").lower() in ("true", "1"),
        amount=text(ac, _AMOUNT),
        category=text(category, _ID),
        rate=text(category, _PERCENT),
    )


def _stripped(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None
