"""Unhappy customers who must not slip away: tickets and follow-ups of missed callers.

- :mod:`callcenter.care.tickets`: complaints and work orders with a promised deadline.
- :mod:`callcenter.care.followups`: callers who abandoned, were cut off or left a voicemail
  nobody handled, called back from a list.
- :func:`callcenter.care.board.wallboard_counts`: their figures for the wallboard.
"""
