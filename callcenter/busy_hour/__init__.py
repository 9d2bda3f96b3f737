"""A simulated busy hour against a running server (`callcenter simulate busy-hour`)."""
