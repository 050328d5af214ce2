"""What the store actor publishes for REST to read without asking."""
