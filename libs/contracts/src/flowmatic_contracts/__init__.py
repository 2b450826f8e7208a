"""Flowmatic's wire contracts: the envelope, every command and event, topic names, and (de)serialisation.

This package does no I/O; it is the only code the services share.
"""

# Registering every payload type is a side effect of importing these modules; doing it here means
# `decode` knows every type whichever module a service imports first.
from flowmatic_contracts import commands, events

__all__ = ["commands", "events"]
