"""The messages actors tell and ask one another, one module per subsystem."""
