"""Readers, one per syntax of SPEC section 2, and the sniffing that picks one."""
