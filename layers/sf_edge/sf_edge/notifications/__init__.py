"""What the worker does with a notification: routing by listener and sObject type to handlers."""
