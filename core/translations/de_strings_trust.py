"""German strings of the tenant's trust policy for inbound mail and the
VERP bounce address (issue 12); de_strings.py merges them into DE."""
DE_TRUST = {
    "Trust policy": "Vertrauensregeln",
    "Trust policy saved.": "Vertrauensregeln gespeichert.",
    "Trusted Authentication-Results host (authserv-id; empty: the tenant's trust policy)":
        "Vertrauenswürdiger Authentication-Results-Server (authserv-id; leer: die Vertrauensregeln des Mandanten)",
    "Trusted Authentication-Results host (authserv-id of your receiving server; empty: the installation's)":
        "Vertrauenswürdiger Authentication-Results-Server (authserv-id Ihres Empfangsservers; leer: der der "
        "Installation)",
    "Mail comments from unauthenticated senders": "Kommentare per Mail von nicht authentifizierten Absendern",
    "as the installation decides": "wie die Installation es festlegt",
    "mark them \"sender not verified\"": "als „Absender nicht bestätigt“ markieren",
    "count them as the sender's": "dem Absender zurechnen",
    "an authserv-id is a host name such as mx.example.org (letters, digits, '.', '-', '_'), as your receiving "
    "server writes it":
        "eine authserv-id ist ein Hostname wie mx.example.org (Buchstaben, Ziffern, „.“, „-“, „_“), so wie Ihr "
        "Empfangsserver ihn schreibt",
    "Anyone can write any address into From:. A mail counts as its sender's only when your receiving server "
    "authenticated it (DMARC pass in its Authentication-Results header), or when you accept unauthenticated mail. "
    "A mailbox that names its own authserv-id uses that one.":
        "Jeder kann jede Adresse in From: schreiben. Eine Mail wird dem Absender nur zugerechnet, wenn Ihr "
        "Empfangsserver sie authentifiziert hat (DMARC pass in seinem Authentication-Results-Header) oder wenn Sie "
        "nicht authentifizierte Mail annehmen. Ein Postfach mit eigener authserv-id verwendet diese.",
    "Installation defaults: authserv-id %(id)s; unauthenticated mail %(accepted)s.":
        "Vorgaben der Installation: authserv-id %(id)s; nicht authentifizierte Mail %(accepted)s.",
    "none": "keine",
    "accepted": "angenommen",
    "not verified": "nicht bestätigt",
    "In force now:": "Derzeit gültig:",
    "no trusted host": "kein vertrauenswürdiger Server",
    "unauthenticated mail accepted": "nicht authentifizierte Mail wird angenommen",
    "unauthenticated mail marked not verified": "nicht authentifizierte Mail wird als nicht bestätigt markiert",
    "Bounce address (VERP; empty: bounces go to the sender address)":
        "Bounce-Adresse (VERP; leer: Unzustellbarkeitsmeldungen gehen an die Absenderadresse)",
    "Every message leaves with its own signed return path (bounce+number-tag@...), so a bounce marks exactly that "
    "message. Poll this address as an inbound mailbox.":
        "Jede Nachricht erhält ihren eigenen signierten Rückweg (bounce+Nummer-Kennung@...), sodass eine "
        "Unzustellbarkeitsmeldung genau diese Nachricht markiert. Richten Sie diese Adresse als Eingangspostfach ein.",
}
