"""What this package knows of HIPAA: the 18 identifiers, the kinds, the content patterns, the errors."""

from __future__ import annotations

import re

__all__ = ["KINDS", "NOT_ENFORCED", "RESTRICTED_ZIP3", "RESTRICTED_ZIP3_VINTAGE", "SAFE_HARBOR_18", "PHIKeyError",
           "PHILeakError"]

# 45 CFR 164.514(b)(2)(i): the 18 identifiers, with the spec kinds this module treats them as
SAFE_HARBOR_18 = [
    ("A", "Names", ("name",)),
    ("B", "Geographic subdivisions smaller than a state (street, city, county, ZIP beyond 3 digits)",
     ("street", "city", "zip", "geo")),
    ("C", "All elements of dates (except year) directly related to an individual; ages over 89",
     ("date", "birth_date", "age")),
    ("D", "Telephone numbers", ("phone",)),
    ("E", "Fax numbers", ("fax",)),
    ("F", "Email addresses", ("email",)),
    ("G", "Social security numbers", ("ssn",)),
    ("H", "Medical record numbers", ("record_id",)),
    ("I", "Health plan beneficiary numbers", ("record_id",)),
    ("J", "Account numbers", ("account",)),
    ("K", "Certificate/license numbers", ("license",)),
    ("L", "Vehicle identifiers and serial numbers, including license plates", ("vehicle",)),
    ("M", "Device identifiers and serial numbers", ("device",)),
    ("N", "Web Universal Resource Locators (URLs)", ("url",)),
    ("O", "Internet Protocol (IP) address numbers", ("ip",)),
    ("P", "Biometric identifiers, including finger and voice prints", ("biometric",)),
    ("Q", "Full face photographic images and any comparable images", ("photo",)),
    ("R", "Any other unique identifying number, characteristic, or code", ("record_id", "free_text")),
]
# 3-digit ZIP prefixes whose population is 20,000 or fewer: reported as 000. The list is HHS's (Guidance Regarding
# Methods for De-identification, 2012), built from the 2000 Census ZIP Code Tabulation Areas; the guidance says not to
# rely on it once newer Census data is published, so every function that uses it takes another list as a parameter.
RESTRICTED_ZIP3_VINTAGE = "2000 Census ZCTAs (HHS de-identification guidance, 2012; 67 FR 53182, 53233-53234)"
RESTRICTED_ZIP3 = ("036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
                   "884", "890", "893")
_DROP = ("name", "ssn", "email", "phone", "fax", "street", "city", "geo", "ip", "device", "url", "vehicle", "license",
         "account", "biometric", "photo")
KINDS = (*_DROP, "record_id", "zip", "date", "birth_date", "age", "free_text", "keep")

# What Safe Harbor requires that no function over columns can enforce: named here so a release names it too
NOT_ENFORCED = (
    ("Geographic units smaller than a state besides street, city and ZIP: county, precinct, census tract, geocodes",
     "164.514(b)(2)(i)(B)",
     "only the columns the spec marks 'geo' (or street, city, zip) are removed; the scan flags columns named like "
     "county, precinct, tract, lat or lon, and free text is redacted of patterns, not of place names"),
    ("Identifiers of the individual's relatives, employers and household members",
     "164.514(b)(2)(i), first sentence",
     "the code cannot tell whose name or number a value is: list such columns (next of kin, employer, guarantor) "
     "in the spec with their kind; names of relatives written in free text are not found unless listed"),
    ("No actual knowledge that the remaining information could identify the individual",
     "164.514(b)(2)(ii)",
     "a judgement of the covered entity about the released data and what recipients know; k-anonymity "
     "(k_ladder) shows how small the groups are, it does not make the judgement"),
    ("Any other unique identifying number, characteristic or code",
     "164.514(b)(2)(i)(R)",
     "found only by name, by the content patterns and by the spec; a rare diagnosis or an unusual value can "
     "still single a person out"),
)

_PATTERNS = {  # content detectors: a value matching one of these is likely PHI
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b|^\d{9}$",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b",
    "ip": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    "date": r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b",
    "record id": r"^[A-Z]{1,4}-?[0-9A-F]{6,}$",
}
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# free-text redaction (Java regex, applied in this order): a label, and what it replaces
_TEXT_PATTERNS = (
    ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("RECORD_ID", r"(?i)\b(?:mrn|mr|acct|account|acc|a/c|member|policy|plan|hp|chart|pt|patient|id)"
                  r"\s*(?:no\.?|num(?:ber)?|id)?\s*[#:.-]?\s*(?:[a-z]{0,3}-?)?\d[0-9a-z-]{4,}\b"),
    ("RECORD_ID", r"\b[A-Z]{1,4}-?\d[0-9A-F]{5,}\b"),
    ("IP", r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
    ("DATE", r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"),
    ("DATE", rf"(?i)\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
             rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}\b"),
    ("AGE", r"(?i)\b(?:aged?\s+)?(?:9\d|1[01]\d|12[0-5])\s*-?\s*(?:y/?o|yrs?|years?)(?:[- ]old)?\b"),  # over 89
    ("PHONE", r"(?:\+?1[ .-]?)?(?:\(\d{3}\)|(?<!\d)\d{3})[ .-]?\d{3}[ .-]?\d{4}(?!\d)"),
    ("SSN", r"(?<!\d)\d{3}[- .]?\d{2}[- .]?\d{4}(?!\d)"),
    ("NUMBER", r"(?<!\d)\d(?:[ .-]?\d){6,}(?!\d)"),  # any other run of 7 or more digits: an account, a card
)
_NAME_HINTS = re.compile(r"patient|member|_id$|^id$|name|ssn|social|e?mail|phone|fax|addr|street|city|zip|postal|dob|"
                         r"birth|mrn|record|plan|account|licen|vehicle|plate|device|serial|url|ip_?addr|biometric|photo|"
                         r"note|admission|discharge|death|county|precinct|census|(?:^|_)tract|geo|^lat(?:itude)?$|"
                         r"^lo?ng(?:itude)?$|^lon$|(?:^|_)age(?:_|$)|relative|next_of_kin|employer|guarantor", re.I)


class PHIKeyError(ValueError):
    """The secret key a keyed policy needs is missing or empty."""


class PHILeakError(AssertionError):
    """Raw identifier values appear in data that should hold none."""
