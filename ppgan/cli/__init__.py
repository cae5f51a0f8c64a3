"""Command lines: every argparse parser and main(); one module per command."""
