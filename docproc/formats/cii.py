"""UN/CEFACT CII D16B (Factur-X / ZUGFeRD 2.x XML, XRechnung CII): SPEC section 2.3.

Maps the element tree onto EN 16931's business terms, every value as written; the
rules are docproc.en16931's. ZUGFeRD 1.0 and Order-X share the look but not the
vocabulary: they are unsupported.
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
from docproc.formats.ubl import text
from docproc.models import Format, Problem, Reason

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
ROOT = f"{{{CII_NS}}}CrossIndustryInvoice"
_RSM = f"{{{CII_NS}}}"
_RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
_UDT = "{urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100}"
ZUGFERD_1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"


def _p(path: str) -> str:
    """`ram:A/udt:B` in Clark notation, which ElementPath resolves without a prefix map."""
    return path.replace("rsm:", _RSM).replace("ram:", _RAM).replace("udt:", _UDT)


_DOC = _p("rsm:ExchangedDocument")
_TX = _p("rsm:SupplyChainTradeTransaction")
_AGREEMENT = _p("ram:ApplicableHeaderTradeAgreement")
_SETTLEMENT = _p("ram:ApplicableHeaderTradeSettlement")
_SUMMATION = _p("ram:SpecifiedTradeSettlementHeaderMonetarySummation")
_SELLER = _p("ram:SellerTradeParty")
_BUYER = _p("ram:BuyerTradeParty")
_NAME = _p("ram:Name")
_ID = _p("ram:ID")
_VAT_ID = _p("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")
_FISCAL_ID = _p("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']")
_LEGAL_ID = _p("ram:SpecifiedLegalOrganization/ram:ID")
_GLOBAL_ID = _p("ram:GlobalID")
_DATE = _p("udt:DateTimeString")
_CATEGORY = _p("ram:CategoryCode")
_RATE = _p("ram:RateApplicablePercent")
_LINE_TAX = _p("ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax")
_LINE_AMOUNT = _p(
    "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation"
    "/ram:LineTotalAmount"
)
_QUANTITY = _p("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
_PRICE = _p("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount")


def read(root: etree._Element, fmt: Format = Format.CII) -> EInvoiceDocument:
    """The business terms of a CII invoice; another root is unsupported."""
    if root.tag != ROOT:
        return EInvoiceDocument.failed(
            fmt, Problem(Reason.UNSUPPORTED_FORMAT, f"{root.tag} is not a CII invoice")
        )
    doc = root.find(_DOC)
    tx = root.find(_TX)
    agreement = tx.find(_AGREEMENT) if tx is not None else None
    settlement = tx.find(_SETTLEMENT) if tx is not None else None
    summation = settlement.find(_SUMMATION) if settlement is not None else None
    seller = agreement.find(_SELLER) if agreement is not None else None
    buyer = agreement.find(_BUYER) if agreement is not None else None
    currency = text(settlement, _p("ram:InvoiceCurrencyCode"))
    seller_vat = text(seller, _VAT_ID)
    return EInvoiceDocument(
        format=fmt,
        syntax=Format.CII,
        invoice_id=text(doc, _ID),
        type_code=text(doc, _p("ram:TypeCode")),
        profile=text(
            root,
            _p("rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter")
            + "/"
            + _ID,
        ),
        invoice_date=_date(doc.find(_p("ram:IssueDateTime")) if doc is not None else None),
        due_date=_date(
            settlement.find(_p("ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime"))
            if settlement is not None
            else None
        ),
        seller=text(seller, _NAME),
        seller_tax_id=seller_vat,
        buyer=text(buyer, _NAME),
        buyer_tax_id=text(buyer, _VAT_ID),
        customer_id=text(buyer, _ID),
        issuer_key=(
            seller_vat
            or text(seller, _LEGAL_ID)
            or text(seller, _ID)
            or text(seller, _GLOBAL_ID)
            or text(seller, _FISCAL_ID)
        ),
        currency=currency,
        amount=text(summation, _p("ram:LineTotalAmount")),
        allowance_total=text(summation, _p("ram:AllowanceTotalAmount")),
        charge_total=text(summation, _p("ram:ChargeTotalAmount")),
        net_total=text(summation, _p("ram:TaxBasisTotalAmount")),
        tax_total=_tax_total(summation, currency),
        total=text(summation, _p("ram:GrandTotalAmount")),
        prepaid=text(summation, _p("ram:TotalPrepaidAmount")),
        rounding=text(summation, _p("ram:RoundingAmount")),
        payable=text(summation, _p("ram:DuePayableAmount")),
        lines=tuple(
            _line(n, line)
            for n, line in enumerate(tx.iterfind(_p("ram:IncludedSupplyChainTradeLineItem")), 1)
        )
        if tx is not None
        else (),
        taxes=tuple(_tax(t) for t in settlement.iterfind(_p("ram:ApplicableTradeTax")))
        if settlement is not None
        else (),
        allowances_charges=tuple(
            _allowance_charge(ac)
            for ac in settlement.iterfind(_p("ram:SpecifiedTradeAllowanceCharge"))
        )
        if settlement is not None
        else (),
    )


def _date(parent: etree._Element | None) -> RawDate | None:
    """A udt:DateTimeString with its format code (102 when the attribute is missing)."""
    el = parent.find(_DATE) if parent is not None else None
    if el is None or not (el.text or "").strip():
        return None
    return RawDate((el.text or "").strip(), (el.get("format") or "102").strip())


def _tax_total(summation: etree._Element | None, currency: str | None) -> str | None:
    """BT-110: the ram:TaxTotalAmount in the invoice currency, not the one in the VAT
    accounting currency (BT-111); the only one when it names no currency."""
    if summation is None:
        return None
    amounts = summation.findall(_p("ram:TaxTotalAmount"))
    for amount in amounts:
        if (amount.get("currencyID") or "").strip() == currency:
            return (amount.text or "").strip() or None
    if len(amounts) == 1 and (currency is None or not amounts[0].get("currencyID")):
        return (amounts[0].text or "").strip() or None
    return None


def _line(n: int, line: etree._Element) -> RawLine:
    quantity = line.find(_QUANTITY)
    tax = line.find(_LINE_TAX)
    return RawLine(
        line_no=n,
        line_id=text(line, _p("ram:AssociatedDocumentLineDocument/ram:LineID")),
        description=text(line, _p("ram:SpecifiedTradeProduct/ram:Name")),
        quantity=((quantity.text or "").strip() or None) if quantity is not None else None,
        unit_code=(quantity.get("unitCode") or None) if quantity is not None else None,
        unit_price=text(line, _PRICE),
        amount=text(line, _LINE_AMOUNT),
        tax_category=text(tax, _CATEGORY),
        tax_rate=text(tax, _RATE),
    )


def _tax(tax: etree._Element) -> RawTax:
    return RawTax(
        kind=text(tax, _p("ram:TypeCode")) or "VAT",
        category=text(tax, _CATEGORY),
        rate=text(tax, _RATE),
        taxable_amount=text(tax, _p("ram:BasisAmount")),
        amount=text(tax, _p("ram:CalculatedAmount")),
    )


def _allowance_charge(ac: etree._Element) -> RawAllowanceCharge:
    tax = ac.find(_p("ram:CategoryTradeTax"))
    indicator = text(ac, _p("ram:ChargeIndicator/udt:Indicator")) or ""
    return RawAllowanceCharge(
        charge=indicator.lower() in ("true", "1"),
        amount=text(ac, _p("ram:ActualAmount")),
        category=text(tax, _CATEGORY),
        rate=text(tax, _RATE),
    )
