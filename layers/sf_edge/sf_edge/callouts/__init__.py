"""Request-reply callouts: the JSON contract Apex, Named Credentials and External Services call, and its logic."""
