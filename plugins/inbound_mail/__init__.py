"""Inbound mail: polls IMAP, POP3 and Exchange mailboxes and hands each new
mail to the plugin that turns it into a ticket or a comment."""
