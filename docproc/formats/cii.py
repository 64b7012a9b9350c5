"""UN/CEFACT CII D16B (Factur-X / ZUGFeRD 2.x XML, XRechnung CII): SPEC section 2.3.

Maps the element tree onto EN 16931's business terms, every value as written; the
rules are docproc.rules.en16931's. ZUGFeRD 1.0 and Order-X share the look but not the
vocabulary: they are unsupported. Elements are looked into through their children's
map, as in the UBL reader.
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
from docproc.formats.ubl import kids, value
from docproc.models import Format, Problem, Reason

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
ROOT = f"{{{CII_NS}}}CrossIndustryInvoice"
ZUGFERD_1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"
_RSM = f"{{{CII_NS}}}"
_RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
_UDT = "{urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100}"

CONTEXT = _RSM + "ExchangedDocumentContext"
DOCUMENT = _RSM + "ExchangedDocument"
TRANSACTION = _RSM + "SupplyChainTradeTransaction"
GUIDELINE = _RAM + "GuidelineSpecifiedDocumentContextParameter"
AGREEMENT = _RAM + "ApplicableHeaderTradeAgreement"
SETTLEMENT = _RAM + "ApplicableHeaderTradeSettlement"
SUMMATION = _RAM + "SpecifiedTradeSettlementHeaderMonetarySummation"
SELLER = _RAM + "SellerTradeParty"
BUYER = _RAM + "BuyerTradeParty"
TAX_REGISTRATION = _RAM + "SpecifiedTaxRegistration"
LEGAL_ORGANIZATION = _RAM + "SpecifiedLegalOrganization"
PAYMENT_TERMS = _RAM + "SpecifiedTradePaymentTerms"
TRADE_TAX = _RAM + "ApplicableTradeTax"
ALLOWANCE_CHARGE = _RAM + "SpecifiedTradeAllowanceCharge"
LINE_ITEM = _RAM + "IncludedSupplyChainTradeLineItem"
ID = _RAM + "ID"
NAME = _RAM + "Name"
CATEGORY_CODE = _RAM + "CategoryCode"
RATE = _RAM + "RateApplicablePercent"
TAX_TOTAL_AMOUNT = _RAM + "TaxTotalAmount"
DATE_TIME_STRING = _UDT + "DateTimeString"


def read(
    root: etree._Element, fmt: Format = Format.CII, xml: bytes | None = None
) -> EInvoiceDocument:
    """The business terms of a CII invoice; another root is unsupported."""
    if root.tag != ROOT:
        return EInvoiceDocument.failed(
            fmt, Problem(Reason.UNSUPPORTED_FORMAT, f"{root.tag} is not a CII invoice")
        )
    top = kids(root)
    doc = kids(top.get(DOCUMENT))
    tx = top.get(TRANSACTION)
    tx_kids = kids(tx)
    agreement = kids(tx_kids.get(AGREEMENT))
    settlement_el = tx_kids.get(SETTLEMENT)
    settlement = kids(settlement_el)
    summation_el = settlement.get(SUMMATION)
    summation = kids(summation_el)
    seller_el = agreement.get(SELLER)
    seller, buyer = kids(seller_el), kids(agreement.get(BUYER))
    currency = value(settlement.get(_RAM + "InvoiceCurrencyCode"))
    seller_vat = _registration(seller_el, "VA")
    return EInvoiceDocument(
        format=fmt,
        syntax=Format.CII,
        xml=xml,
        invoice_id=value(doc.get(ID)),
        type_code=value(doc.get(_RAM + "TypeCode")),
        profile=value(kids(kids(top.get(CONTEXT)).get(GUIDELINE)).get(ID)),
        invoice_date=_date(doc.get(_RAM + "IssueDateTime")),
        due_date=_due_date(settlement_el),
        seller=value(seller.get(NAME)),
        seller_tax_id=seller_vat,
        buyer=value(buyer.get(NAME)),
        buyer_tax_id=_registration(agreement.get(BUYER), "VA"),
        customer_id=value(buyer.get(ID)),
        issuer_key=(
            seller_vat
            or value(kids(seller.get(LEGAL_ORGANIZATION)).get(ID))
            or value(seller.get(ID))
            or value(seller.get(_RAM + "GlobalID"))
            or _registration(seller_el, "FC")
        ),
        currency=currency,
        amount=value(summation.get(_RAM + "LineTotalAmount")),
        allowance_total=value(summation.get(_RAM + "AllowanceTotalAmount")),
        charge_total=value(summation.get(_RAM + "ChargeTotalAmount")),
        net_total=value(summation.get(_RAM + "TaxBasisTotalAmount")),
        tax_total=_tax_total(summation_el, currency),
        total=value(summation.get(_RAM + "GrandTotalAmount")),
        prepaid=value(summation.get(_RAM + "TotalPrepaidAmount")),
        rounding=value(summation.get(_RAM + "RoundingAmount")),
        payable=value(summation.get(_RAM + "DuePayableAmount")),
        lines=tuple(_line(n, line) for n, line in enumerate(tx.iterchildren(LINE_ITEM), start=1))
        if tx is not None
        else (),
        taxes=tuple(_tax(t) for t in settlement_el.iterchildren(TRADE_TAX))
        if settlement_el is not None
        else (),
        allowances_charges=tuple(
            _allowance_charge(ac) for ac in settlement_el.iterchildren(ALLOWANCE_CHARGE)
        )
        if settlement_el is not None
        else (),
    )


def _registration(party: etree._Element | None, scheme: str) -> str | None:
    """The party's first ram:SpecifiedTaxRegistration/ram:ID of `scheme` (VA: VAT, FC: tax)."""
    if party is None:
        return None
    for registration in party.iterchildren(TAX_REGISTRATION):
        for reg_id in registration.iterchildren(ID):
            if reg_id.get("schemeID") == scheme and (found := value(reg_id)):
                return found
    return None


def _date(parent: etree._Element | None) -> RawDate | None:
    """A udt:DateTimeString with its format code (102 when the attribute is missing)."""
    el = kids(parent).get(DATE_TIME_STRING)
    text = value(el)
    if el is None or text is None:
        return None
    return RawDate(text, (el.get("format") or "102").strip())


def _due_date(settlement: etree._Element | None) -> RawDate | None:
    """BT-9: the first payment terms' due date."""
    if settlement is None:
        return None
    for terms in settlement.iterchildren(PAYMENT_TERMS):
        if due := _date(kids(terms).get(_RAM + "DueDateDateTime")):
            return due
    return None


def _tax_total(summation: etree._Element | None, currency: str | None) -> str | None:
    """BT-110: the ram:TaxTotalAmount in the invoice currency, not the one in the VAT
    accounting currency (BT-111); the only one when it names no currency (or the
    document names none: that is reported as BT-5 missing)."""
    if summation is None:
        return None
    amounts = list(summation.iterchildren(TAX_TOTAL_AMOUNT))
    for amount in amounts:
        if (amount.get("currencyID") or "").strip() == currency:
            return value(amount)
    if len(amounts) == 1 and (currency is None or not amounts[0].get("currencyID")):
        return value(amounts[0])
    return None


def _line(n: int, line: etree._Element) -> RawLine:
    parts = kids(line)
    settlement = kids(parts.get(_RAM + "SpecifiedLineTradeSettlement"))
    tax = kids(settlement.get(TRADE_TAX))
    line_sum = kids(settlement.get(_RAM + "SpecifiedTradeSettlementLineMonetarySummation"))
    price = kids(
        kids(parts.get(_RAM + "SpecifiedLineTradeAgreement")).get(
            _RAM + "NetPriceProductTradePrice"
        )
    )
    quantity = kids(parts.get(_RAM + "SpecifiedLineTradeDelivery")).get(_RAM + "BilledQuantity")
    return RawLine(
        line_no=n,
        line_id=value(
            kids(parts.get(_RAM + "AssociatedDocumentLineDocument")).get(_RAM + "LineID")
        ),
        description=value(kids(parts.get(_RAM + "SpecifiedTradeProduct")).get(NAME)),
        quantity=value(quantity),
        unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
        unit_price=value(price.get(_RAM + "ChargeAmount")),
        amount=value(line_sum.get(_RAM + "LineTotalAmount")),
        tax_category=value(tax.get(CATEGORY_CODE)),
        tax_rate=value(tax.get(RATE)),
    )


def _tax(tax: etree._Element) -> RawTax:
    parts = kids(tax)
    return RawTax(
        kind=value(parts.get(_RAM + "TypeCode")) or "VAT",
        category=value(parts.get(CATEGORY_CODE)),
        rate=value(parts.get(RATE)),
        taxable_amount=value(parts.get(_RAM + "BasisAmount")),
        amount=value(parts.get(_RAM + "CalculatedAmount")),
    )


def _allowance_charge(ac: etree._Element) -> RawAllowanceCharge:
    parts = kids(ac)
    tax = kids(parts.get(_RAM + "CategoryTradeTax"))
    indicator = value(kids(parts.get(_RAM + "ChargeIndicator")).get(_UDT + "Indicator")) or ""
    return RawAllowanceCharge(
        charge=indicator.lower() in ("true", "1"),
        amount=value(parts.get(_RAM + "ActualAmount")),
        category=value(tax.get(CATEGORY_CODE)),
        rate=value(tax.get(RATE)),
    )
