"""A small compute-shaped API and a traffic driver for the demo."""
