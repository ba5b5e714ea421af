"""A trivial app for tests/core/test_app_registry.py: everything it adds is declared in its own folder."""
