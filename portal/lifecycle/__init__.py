"""A registration's life as its applicant lives it: the wizard (``wizard``) and the transitions
they make (``transitions``: submit, deregister, renew, confirm the data)."""
