"""The rules of SPEC section 3: what a reader found (`docproc.formats.document`) becomes an
Invoice or a Rejection carrying every reason code that applies.

`judge` is the one verdict: text format v1's rules (`rules.text`), EN 16931's
(`rules.en16931`) or those of a template-read PDF (`rules.template`), by the syntax
read; then, for an e-invoice, the official rules (`rules.official`, SPEC 3.1) as the
second judge. Like the readers, no rule raises and none imports an I/O library.
"""

from __future__ import annotations

from dataclasses import replace

from docproc.formats.document import Document, EInvoiceDocument, ExtractedDocument, ParsedDocument
from docproc.models import Finding, Invoice, OfficialRules, Reason, Rejection
from docproc.rules import en16931, official, template, text
from docproc.rules.problems import ProblemLog

__all__ = ["judge"]


def judge(doc: Document, official_rules: OfficialRules = OfficialRules.OFF) -> Invoice | Rejection:
    """Apply the rules of SPEC section 3 that the document's syntax follows; never raises.

    `official_rules` (SPEC 3.1): with `report` the verdict carries the official rules'
    findings; with `enforce` a fatal one also rejects the document `rule_violation`.
    """
    if isinstance(doc, ParsedDocument):
        return text.validate(doc)
    if isinstance(doc, ExtractedDocument):
        return template.judge(doc)
    verdict = en16931.judge(doc)
    if official_rules is OfficialRules.OFF or doc.xml is None or doc.problems:
        return verdict
    if len(doc.lines) > official.MAX_LINES:
        findings: tuple[Finding, ...] = (official.not_run(len(doc.lines)),)
    else:
        findings = official.check(doc.xml, doc.syntax, doc.profile)
    fatal = official.fatal(findings)
    if official_rules is OfficialRules.ENFORCE and fatal:
        return _violation(doc, verdict, fatal, findings)
    return replace(verdict, findings=findings)


def _violation(
    doc: EInvoiceDocument,
    verdict: Invoice | Rejection,
    fatal: tuple[Finding, ...],
    findings: tuple[Finding, ...],
) -> Rejection:
    """`rule_violation`: each fatal finding a problem (at most 20 shown, as every list)."""
    log = ProblemLog(verdict.problems if isinstance(verdict, Rejection) else ())
    for finding in fatal:
        log.add(Reason.RULE_VIOLATION, f"[{finding.rule}] {finding.message} ({finding.location})")
    if isinstance(verdict, Rejection):
        return replace(verdict, problems=log.result(), findings=findings)
    return Rejection(
        log.result(),
        format=verdict.format,
        issuer_key=verdict.issuer_key,
        customer_id=verdict.customer_id,
        invoice_id=verdict.invoice_id,
        findings=findings,
    )
