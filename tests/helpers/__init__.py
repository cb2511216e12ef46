"""Helpers the tests share (tiny datasets, models, runs, folder datasets, the AppTest factory).

Test files import helpers only from here, never from another test file."""
