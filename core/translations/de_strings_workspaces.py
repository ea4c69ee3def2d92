"""German strings of the ticket plugin's workspaces (issue 12);
de_strings.py merges them into DE."""
DE_WORKSPACES = {
    "Workspaces": "Arbeitsbereiche",
    "Workspace": "Arbeitsbereich",
    "Workspace:": "Arbeitsbereich:",
    "Manage workspaces": "Arbeitsbereiche verwalten",
    "Mailbox (its name under Inbound mail; new tickets from it land here)":
        "Postfach (sein Name unter Eingehende Mail; neue Tickets daraus landen hier)",
    "no mailbox": "kein Postfach",
    "default": "Standard",
    "Make default": "Zum Standard machen",
    "Move": "Verschieben",
    "New workspace": "Neuer Arbeitsbereich",
    "Create workspace": "Arbeitsbereich anlegen",
    "Its tickets move to the default workspace.": "Seine Tickets wandern in den Standard-Arbeitsbereich.",
    "Every ticket is in one workspace. A workspace can have its own mailbox: new tickets from it land there. The "
    "default workspace takes mail from mailboxes no workspace names and tickets created anywhere else.":
        "Jedes Ticket liegt in einem Arbeitsbereich. Ein Arbeitsbereich kann ein eigenes Postfach haben: neue "
        "Tickets daraus landen dort. Der Standard-Arbeitsbereich nimmt Mail aus Postfächern ohne Arbeitsbereich und "
        "überall sonst angelegte Tickets auf.",
    "Workspace %(name)s created.": "Arbeitsbereich %(name)s angelegt.",
    "Workspace %(name)s saved.": "Arbeitsbereich %(name)s gespeichert.",
    "%(name)s is now the default workspace.": "%(name)s ist jetzt der Standard-Arbeitsbereich.",
    "Workspace removed; %(count)s ticket(s) moved to the default workspace.":
        "Arbeitsbereich entfernt; %(count)s Ticket(s) in den Standard-Arbeitsbereich verschoben.",
    "Ticket #%(id)s moved to %(name)s.": "Ticket #%(id)s nach %(name)s verschoben.",
}
