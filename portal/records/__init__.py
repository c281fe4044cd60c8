"""What a verifier reads: signed certificates and signing keys (``certificates``), the public
registry row platforms look up (``registry``), the offline verifier and the printable page."""
