"""Command lines: every argparse parser and main(); the scripts of applications/tools and tools are wrappers."""
