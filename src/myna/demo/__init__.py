"""The demo: a working Myna installation with synthetic residents."""
