"""German strings of "Link account" for an Exchange / Microsoft 365 mailbox
(issue 12); de_strings.py merges them into DE."""
DE_EXCHANGE = {
    "Exchange / Microsoft 365 account": "Exchange-/Microsoft-365-Konto",
    "it is renewed before it expires": "es wird vor Ablauf erneuert",
    "Link the account: you sign in with the mailbox at the identity provider. Postwerk uses the OAuth app of the "
    "mail settings.":
        "Konto verknüpfen: Sie melden sich mit dem Postfach beim Identitätsanbieter an. Postwerk verwendet die "
        "OAuth-App der Mail-Einstellungen.",
    "Redirect URI to register with the OAuth app": "Bei der OAuth-App einzutragende Weiterleitungs-URI",
    "The mailbox %(name)s is linked.": "Das Postfach %(name)s ist verknüpft.",
}
