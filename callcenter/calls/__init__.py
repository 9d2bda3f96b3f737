"""Calls: the call record and its event log, queues, routing to agents, transfers, recovery
and the screen-pop."""
