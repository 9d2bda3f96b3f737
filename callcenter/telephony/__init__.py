"""Adapters to the telephony platform: TwiML rendering and webhook signatures."""
