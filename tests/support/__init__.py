"""What the tests share and import like any code: people in teams, API clients, the BIG-bench files.

Fixtures stay in conftest.py; these are plain functions and constants, so a test module imports them by name
rather than reaching into conftest."""
