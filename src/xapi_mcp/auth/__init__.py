"""Credentials: which kind signs which request, and where user tokens come from."""
