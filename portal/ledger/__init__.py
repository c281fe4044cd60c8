"""The ledger: what every change writes through. History rows and outgoing events (``events``),
the transparency log (``tlog``) and the log of every reveal of personal data (``pii_access``)."""
