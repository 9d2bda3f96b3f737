"""Customer records as agents keep them: the customer file, edits with their history, merging
two records of one person, and erasure on request (see docs/customers.md)."""
