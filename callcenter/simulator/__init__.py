"""A local stand-in for Twilio, so the call center runs without a Twilio account."""
