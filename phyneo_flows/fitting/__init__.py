"""Bottom-up fitting: SAPT-labelled dimers, the long-range check, Slater short-range fits, residual networks."""
