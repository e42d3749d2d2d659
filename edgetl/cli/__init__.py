"""The click CLI: each command turns options into a config, calls one library function, prints."""
