"""Pure, synchronous gateway logic: no I/O, no clock, no environment."""
