"""A registration and what it is made of: the tables and states (``models``), the wizard's steps
(``steps``), attestations and declarations, screening, the risk level, the shop-site probe, and
the sanctions and blocklist entries in force (tables that the layers above act on)."""
