"""A local stand-in for Twilio, so the call center runs without a Twilio account.

It talks to the application only over HTTP, as Twilio does; its module map is in
docs/architecture.md ("The Twilio simulator").
"""
