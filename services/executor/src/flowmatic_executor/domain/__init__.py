"""Pure connector logic: conditions, outcomes, bodies and the address policy. No I/O, no clock."""
