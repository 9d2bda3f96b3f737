"""People: agents (accounts, presence, sign-in throttling) and customers (caller look-up,
import)."""
