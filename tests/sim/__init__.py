"""Local AWS + IMDS simulator for haboot's tests (see README.md)."""
