"""Django management commands of the simulator."""
