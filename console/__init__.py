"""The terminal side of the command line: the edge, parameters, output and the demo."""
