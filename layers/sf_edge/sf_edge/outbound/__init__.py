"""Outbound Message intake: hardened SOAP parsing with zeep, sender checks, enqueueing and the Ack."""
