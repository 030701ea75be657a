"""What this package knows of HIPAA: the 18 identifiers, the kinds, the content patterns, the errors."""

from __future__ import annotations

import re

__all__ = ["GUIDE_IDENTIFIERS", "KINDS", "RESTRICTED_ZIP3", "SAFE_HARBOR_18", "PHIKeyError", "PHILeakError"]

# 45 CFR 164.514(b)(2)(i): the 18 identifiers, with the spec kinds this module treats them as
SAFE_HARBOR_18 = [
    ("A", "Names", ("name",)),
    ("B", "Geographic subdivisions smaller than a state (street, city, county, ZIP beyond 3 digits)",
     ("street", "city", "zip")),
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
# the guide's list of 22 "HIPAA identifiers", mapped to the official 18 (None: not an identifier of its own)
GUIDE_IDENTIFIERS = {
    "name": "A", "address": "B", "city": "B", "state": None, "zip": "B", "dates": "C", "phone": "D", "fax": "E",
    "email": "F", "ssn": "G", "medical_record_number": "H", "health_plan_number": "I", "account_number": "J",
    "certificate_number": "K", "license_number": "K", "vehicle_identifier": "L", "device_serial_number": "M",
    "url": "N", "ip_address": "O", "biometric_identifier": "P", "photo": "Q", "any_unique_identifier": "R",
}
# 3-digit ZIP prefixes whose population is 20,000 or fewer (HHS guidance, 2000 Census): reported as 000
RESTRICTED_ZIP3 = ("036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
                   "884", "890", "893")
_DROP = ("name", "ssn", "email", "phone", "fax", "street", "city", "ip", "device", "url", "vehicle", "license",
         "account", "biometric", "photo")
KINDS = (*_DROP, "record_id", "zip", "date", "birth_date", "age", "free_text", "keep")

_PATTERNS = {  # content detectors: a value matching one of these is likely PHI
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b|^\d{9}$",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b",
    "ip": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    "date": r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b",
    "record id": r"^[A-Z]{1,4}-?[0-9A-F]{6,}$",
}
_NAME_HINTS = re.compile(r"patient|member|_id$|^id$|name|ssn|social|e?mail|phone|fax|addr|street|city|zip|postal|"
                         r"dob|birth|mrn|record|plan|account|licen|vehicle|plate|device|serial|url|ip_?addr|biometric|photo|note|admission|"
                         r"discharge|death", re.I)


class PHIKeyError(ValueError):
    """The secret key a keyed policy needs is missing or empty."""


class PHILeakError(AssertionError):
    """Raw identifier values appear in data that should hold none."""
