"""Outbound Message intake: hardened SOAP parsing with zeep, sender checks, enqueueing and the Ack."""


class OutboundError(Exception):
    """What Outbound Message intake refuses: answered as a SOAP Fault."""
