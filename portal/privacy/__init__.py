"""Personal data over time: the owner's download of everything held (``data_export``),
retention and erasure (``retention``), and re-encryption under a new data key (``data_keys``)."""
