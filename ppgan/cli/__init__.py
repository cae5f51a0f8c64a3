"""Command lines: every argparse parser and main()."""
