"""Whether a mail's From domain was authenticated by OUR receiving server.

Anyone can write an Authentication-Results header (RFC 8601) into a mail.
Only a header carrying the authserv-id the admin configured for the mailbox
counts, and only when there is exactly one of them: the receiving server
adds one on top; a second one with the same id was forged by the sender
(a correctly configured server also removes such forged headers). The
result must be ``dmarc=pass`` for the From domain.
"""

from __future__ import annotations

from email.message import EmailMessage

import authres


def _results(msg: EmailMessage, authserv_id: str) -> list:
    found = []
    try:
        values = msg.get_all("authentication-results", [])
    except Exception:  # unreadable headers prove nothing
        return []
    for value in values:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(str(value))
        except Exception:  # unparsable: it proves nothing
            continue
        if (header.authserv_id or "").lower() == authserv_id:
            found.append(header)
    return found


def is_authenticated(msg: EmailMessage, from_address: str, authserv_id: str) -> bool:
    authserv_id = authserv_id.strip().lower()
    if not authserv_id or "@" not in from_address:
        return False
    headers = _results(msg, authserv_id)
    if len(headers) != 1:
        return False
    from_domain = from_address.rsplit("@", 1)[1].lower()
    for result in headers[0].results:
        if result.method.lower() != "dmarc" or (result.result or "").lower() != "pass":
            continue
        header_from = [p.value for p in result.properties if p.type == "header" and p.name == "from"]
        if all((value or "").lower() == from_domain for value in header_from):
            return True
    return False
