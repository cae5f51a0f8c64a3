"""The ground floor: errors, safe file reading, checks, outputs, downloads, runtime; imports nothing else of ppgan."""
